//! The document's `webhooks` section: the requests the server sends to a webhook's URL, one entry
//! per event type, each a signed POST of a `WebhookEvent`.

use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, Paths, PathsBuilder, Ref, Required, ResponseBuilder, Type,
};

use crate::webhooks::events::{DOCUMENTED_TYPES, TEST_EVENT};

pub fn section() -> Paths {
    let mut paths = PathsBuilder::new();
    for event_type in DOCUMENTED_TYPES.iter().copied().chain([TEST_EVENT]) {
        let operation = OperationBuilder::new()
            .operation_id(Some(format!("on_{}", event_type.replace('.', "_"))))
            .tag("webhooks")
            // No scheme of the document's: the receiver authenticates the sender by its signature.
            .securities(Some(Vec::<utoipa::openapi::security::SecurityRequirement>::new()))
            .summary(Some(format!("A `{event_type}` event")))
            .description(Some(description(event_type)))
            .parameter(header("webhook-id", "The delivery's id: the same on every attempt, so a repeat can be dropped"))
            .parameter(header("webhook-timestamp", "When this attempt was signed, in Unix seconds: refuse one far from now"))
            .parameter(header(
                "webhook-signature",
                "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` under the webhook's \
                 secret; two, space-separated, while a rotated-out secret still signs",
            ))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(Ref::from_schema_name("WebhookEvent"))).build(),
                    )
                    .required(Some(Required::True))
                    .build(),
            ))
            .response(
                "2XX",
                ResponseBuilder::new().description(
                    "Received. Any other answer, or none within 10 seconds, is retried with growing waits for three \
                     days",
                ),
            )
            .build();
        paths = paths.path(event_type, PathItem::new(HttpMethod::Post, operation));
    }
    paths.build()
}

fn description(event_type: &str) -> String {
    match event_type {
        TEST_EVENT => "The ping `POST /webhooks/{id}/test` sends; its `data` is null.".to_string(),
        "deal.won" | "deal.lost" => format!(
            "A deal update that closed the deal; a subscription to `deal.updated` gets it too, as `{event_type}`. \
             `data` is the change as `GET /changes` shows it."
        ),
        "activity.reminder_due" => {
            "An activity's reminder came due: push it to its assignee. `data.changes` \
                                    holds `assignee_id` and `reminder_at`."
                .to_string()
        }
        _ => {
            "`data` is the change as `GET /changes` shows it: the record, its version and the fields changed."
                .to_string()
        }
    }
}

fn header(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}
