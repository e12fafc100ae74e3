// One sales rep's day through a client generated from openapi/openapi.json (openapi-typescript
// types, openapi-fetch calls): log in, a company with a contact, a deal with line items, a call
// completed with its follow-up, the card and its timeline, a filtered search, a segment's count,
// and a list paged to its end. Compiled with `tsc --strict`: no casts, no `any`.
//
//   CRM_BASE_URL=http://127.0.0.1:8080 CRM_EMAIL=... CRM_PASSWORD=... npm run flow

import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";

type Problem = components["schemas"]["Problem"];

const baseUrl = process.env.CRM_BASE_URL ?? "http://127.0.0.1:8080";
const email = process.env.CRM_EMAIL ?? "admin@example.com";
const password = process.env.CRM_PASSWORD ?? "";

/** The data of a successful answer, or a thrown error naming the problem. */
function expectData<T>(step: string, answer: { data?: T; error?: Problem | unknown; response: Response }): T {
  if (answer.data === undefined) {
    throw new Error(`${step}: HTTP ${answer.response.status} ${JSON.stringify(answer.error)}`);
  }
  return answer.data;
}

function check(condition: boolean, what: string): void {
  if (!condition) {
    throw new Error(`expected ${what}`);
  }
}

async function main(): Promise<void> {
  const api = createClient<paths>({ baseUrl });

  const session = expectData(
    "log in",
    await api.POST("/api/v1/auth/login", { body: { email, password } }),
  );
  api.use({
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${session.access_token}`);
      return request;
    },
  });

  const run = Date.now().toString(36);
  const company = expectData(
    "create a company",
    await api.POST("/api/v1/clients", {
      body: {
        kind: "company",
        name: `Acme ${run}`,
        emails: [{ value: `office-${run}@acme.example`, label: "work" }],
        tags: ["typescript-example"],
        custom: {},
      },
    }),
  );
  const contact = expectData(
    "add a contact",
    await api.POST("/api/v1/contacts", {
      body: { client_id: company.id, first_name: "Anna", last_name: "Smirnova", position: "Buyer" },
    }),
  );

  const deal = expectData(
    "open a deal",
    await api.POST("/api/v1/deals", {
      body: {
        title: `Tea for ${run}`,
        client_id: company.id,
        contact_id: contact.id,
        currency: "EUR",
        items: [
          { name: "Green tea", quantity: "10", unit_price: "12.50" },
          { name: "Delivery", quantity: "1", unit_price: "15" },
        ],
      },
    }),
  );
  check(deal.amount === "140.00", `the deal's amount to be the lines' sum, got ${deal.amount}`);

  const call = expectData(
    "plan a call",
    await api.POST("/api/v1/activities", {
      body: {
        kind: "call",
        subject: "Confirm the order",
        client_id: company.id,
        deal_id: deal.id,
        due_at: new Date(Date.now() + 3_600_000).toISOString(),
      },
    }),
  );
  const completed = expectData(
    "complete the call with a follow-up",
    await api.POST("/api/v1/activities/{id}/complete", {
      params: { path: { id: call.id } },
      body: {
        outcome: "Ordered",
        next: { kind: "task", subject: "Send the invoice", due_at: new Date(Date.now() + 86_400_000).toISOString() },
      },
    }),
  );
  check(completed.activity.status === "done", "the call to be done");
  check(completed.next?.subject === "Send the invoice", "the follow-up to be planned");

  const card = expectData(
    "open the card",
    await api.GET("/api/v1/clients/{id}", { params: { path: { id: company.id } } }),
  );
  check(card.id === company.id, "the card of the company");
  const timeline = expectData(
    "read the timeline",
    await api.GET("/api/v1/clients/{id}/timeline", { params: { path: { id: company.id } } }),
  );
  check(timeline.data.length > 0, "a timeline with the call and the deal");
  const types = new Set(timeline.data.map((item) => item.type));

  const found = expectData(
    "search with a filter",
    await api.POST("/api/v1/clients/search", {
      body: {
        filter: {
          all: [
            { field: "kind", op: "eq", value: "company" },
            { field: "tags", op: "contains", value: "typescript-example" },
          ],
        },
        limit: 50,
      },
    }),
  );
  check(found.data.some((client) => client.id === company.id), "the search to find the company");

  const segment = expectData(
    "save a segment",
    await api.POST("/api/v1/segments", {
      body: {
        name: `Example companies ${run}`,
        kind: "dynamic",
        filter: { field: "tags", op: "contains", value: "typescript-example" },
      },
    }),
  );
  const counted = expectData(
    "count the segment",
    await api.GET("/api/v1/segments/{id}/count", { params: { path: { id: segment.id } } }),
  );
  check(counted.count >= 1, "the segment to count the company");

  for (const branch of ["North", "South"]) {
    expectData(
      "add another client",
      await api.POST("/api/v1/clients", { body: { kind: "company", name: `Acme ${branch} ${run}` } }),
    );
  }
  let pages = 0;
  let seen = 0;
  let cursor: string | null = null;
  do {
    const query: { limit: number; cursor?: string } = cursor === null ? { limit: 2 } : { limit: 2, cursor };
    const page = expectData("page the clients", await api.GET("/api/v1/clients", { params: { query } }));
    pages += 1;
    seen += page.data.length;
    cursor = page.next_cursor;
  } while (cursor !== null);
  check(seen >= 3 && pages >= 2, `every client over several pages, got ${seen} in ${pages}`);

  console.log(
    `typescript flow: ok (deal ${deal.amount} ${deal.currency}, timeline ${[...types].join("/")}, ` +
      `segment ${counted.count}, ${seen} clients in ${pages} pages)`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
