//! Newtyped record ids, so a user id can't be passed where a team id belongs. Ids are UUIDv7:
//! time-ordered, so they double as a creation-order sort key, and never sequential.

use std::fmt;

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DieselNewType, ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh UUIDv7.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

id_type!(
    /// A tenant: one company.
    WorkspaceId
);
id_type!(
    /// An employee who logs in.
    UserId
);
id_type!(
    /// A branch or department.
    TeamId
);
id_type!(
    /// A sales plan: a target for a month or a quarter.
    TargetId
);
id_type!(
    /// An individual or a company we sell to, buy from or work with.
    ClientId
);
id_type!(
    /// A person acting for a client.
    ContactId
);
id_type!(
    /// A sales process.
    PipelineId
);
id_type!(
    /// A step of a pipeline.
    StageId
);
id_type!(
    /// A catalogue item.
    ProductId
);
id_type!(
    /// A sales opportunity.
    DealId
);
id_type!(
    /// A call, meeting, email, message, task, note or visit.
    ActivityId
);
id_type!(
    /// A custom field definition.
    CustomFieldId
);
id_type!(
    /// A segment of clients.
    SegmentId
);
id_type!(
    /// A spreadsheet import.
    ImportId
);
id_type!(
    /// A subscription of an endpoint to the workspace's changes.
    WebhookId
);
id_type!(
    /// One event on its way to one webhook's endpoint; also its `webhook-id` header.
    DeliveryId
);
