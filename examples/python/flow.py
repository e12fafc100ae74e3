"""One sales rep's day through a client generated from openapi/openapi.json by
openapi-python-client: log in, a company with a contact, a deal with line items, a call completed
with its follow-up, the card and its timeline, a filtered search, a segment's count, and a list
paged to its end.

    openapi-python-client generate --path ../../openapi/openapi.json --output-path client \
        --config generator.yaml --overwrite
    pip install ./client
    CRM_BASE_URL=http://127.0.0.1:8080 CRM_EMAIL=... CRM_PASSWORD=... python flow.py
"""

import datetime
import os
import sys
import time
from typing import TypeVar

from crm_api_client import AuthenticatedClient, Client
from crm_api_client.api.activities import complete_activity, create_activity
from crm_api_client.api.auth import login
from crm_api_client.api.clients import create_client, get_client, get_client_timeline, list_clients, search_clients
from crm_api_client.api.contacts import create_contact
from crm_api_client.api.deals import create_deal
from crm_api_client.api.segments import count_segment_members, create_segment
from crm_api_client.models import (
    ActivityInput,
    ActivityKind,
    ActivityResponse,
    ClientCompanyInput,
    ClientCompanyInputKind,
    ClientFilterAll,
    ClientKindEquals,
    ClientKindEqualsField,
    ClientKindEqualsOp,
    ClientKindEqualsValue,
    ClientResponse,
    ClientSearchRequest,
    ClientTagsHas,
    ClientTagsHasField,
    ClientTagsHasOp,
    CompleteActivity,
    CompletedActivity,
    ContactInput,
    ContactResponse,
    CurrencyCode,
    DealInput,
    DealResponse,
    EmailEntry,
    ItemInput,
    LoginRequest,
    NextActivity,
    PageClientResponse,
    PageTimelineItem,
    SegmentCount,
    SegmentInput,
    SegmentKind,
    SegmentResponse,
    TokenResponse,
)
from crm_api_client.types import UNSET

T = TypeVar("T")


def expect(step: str, answer: object, kind: type[T]) -> T:
    """The answer when it is what the step should give; otherwise stop, naming the problem."""
    if not isinstance(answer, kind):
        raise SystemExit(f"{step}: got {answer!r}")
    return answer


def tagged_python_example() -> ClientTagsHas:
    """The condition every client this flow creates meets: its tag."""
    return ClientTagsHas(field=ClientTagsHasField.TAGS, op=ClientTagsHasOp.CONTAINS, value="python-example")


def main() -> None:
    base_url = os.environ.get("CRM_BASE_URL", "http://127.0.0.1:8080")
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    session = expect(
        "log in",
        login.sync(client=anonymous, body=LoginRequest(email=os.environ["CRM_EMAIL"], password=os.environ["CRM_PASSWORD"])),
        TokenResponse,
    )
    api = AuthenticatedClient(base_url=base_url, token=session.access_token, raise_on_unexpected_status=True)

    run = format(time.time_ns(), "x")
    company = expect(
        "create a company",
        create_client.sync(
            client=api,
            body=ClientCompanyInput(
                kind=ClientCompanyInputKind.COMPANY,
                name=f"Acme {run}",
                emails=[EmailEntry(value=f"office-{run}@acme.example", label="work")],
                tags=["python-example"],
            ),
        ),
        ClientResponse,
    )
    contact = expect(
        "add a contact",
        create_contact.sync(
            client=api,
            body=ContactInput(client_id=company.id, first_name="Anna", last_name="Smirnova", position="Buyer"),
        ),
        ContactResponse,
    )
    deal = expect(
        "open a deal",
        create_deal.sync(
            client=api,
            body=DealInput(
                title=f"Tea for {run}",
                client_id=company.id,
                contact_id=contact.id,
                currency=CurrencyCode.EUR,
                items=[
                    ItemInput(name="Green tea", quantity="10", unit_price="12.50"),
                    ItemInput(name="Delivery", quantity="1", unit_price="15"),
                ],
            ),
        ),
        DealResponse,
    )
    assert deal.amount == "140.00", deal.amount

    now = datetime.datetime.now(datetime.timezone.utc)
    call = expect(
        "plan a call",
        create_activity.sync(
            client=api,
            body=ActivityInput(
                kind=ActivityKind.CALL,
                subject="Confirm the order",
                client_id=company.id,
                deal_id=deal.id,
                due_at=now + datetime.timedelta(hours=1),
            ),
        ),
        ActivityResponse,
    )
    completed = expect(
        "complete the call with a follow-up",
        complete_activity.sync(
            call.id,
            client=api,
            body=CompleteActivity(
                outcome="Ordered",
                next_=NextActivity(
                    kind=ActivityKind.TASK, subject="Send the invoice", due_at=now + datetime.timedelta(days=1)
                ),
            ),
        ),
        CompletedActivity,
    )
    follow_up = expect("the follow-up", completed.next_, ActivityResponse)
    assert follow_up.subject == "Send the invoice"

    card = expect("open the card", get_client.sync(company.id, client=api), ClientResponse)
    assert card.id == company.id
    timeline = expect("read the timeline", get_client_timeline.sync(company.id, client=api), PageTimelineItem)
    types = sorted({item.type_.value for item in timeline.data})

    found = expect(
        "search with a filter",
        search_clients.sync(
            client=api,
            body=ClientSearchRequest(
                filter_=ClientFilterAll(
                    all_=[
                        ClientKindEquals(
                            field=ClientKindEqualsField.KIND,
                            op=ClientKindEqualsOp.EQ,
                            value=ClientKindEqualsValue.COMPANY,
                        ),
                        tagged_python_example(),
                    ]
                ),
                limit=50,
            ),
        ),
        PageClientResponse,
    )
    assert any(client.id == company.id for client in found.data)

    segment = expect(
        "save a segment",
        create_segment.sync(
            client=api,
            body=SegmentInput(
                name=f"Example companies {run}",
                kind=SegmentKind.DYNAMIC,
                filter_=tagged_python_example(),
            ),
        ),
        SegmentResponse,
    )
    counted = expect("count the segment", count_segment_members.sync(segment.id, client=api), SegmentCount)
    assert counted.count >= 1

    for branch in ("North", "South"):
        expect(
            "add another client",
            create_client.sync(client=api, body=ClientCompanyInput(kind=ClientCompanyInputKind.COMPANY, name=f"Acme {branch} {run}")),
            ClientResponse,
        )
    pages, seen = 0, 0
    cursor: str | None = None
    while True:
        page = expect(
            "page the clients",
            list_clients.sync(client=api, limit=2, cursor=UNSET if cursor is None else cursor),
            PageClientResponse,
        )
        pages += 1
        seen += len(page.data)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen >= 3 and pages >= 2, (seen, pages)

    print(
        f"python flow: ok (deal {deal.amount} {deal.currency}, timeline {'/'.join(types)}, "
        f"segment {counted.count}, {seen} clients in {pages} pages)"
    )


if __name__ == "__main__":
    try:
        main()
    except AssertionError as error:
        sys.exit(f"python flow: {error!r}")
