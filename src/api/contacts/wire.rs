//! What contacts look like on the wire: the response, the input of a create, a partial update and
//! how it merges.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::api::by_ref;
use crate::api::extract::{not_null, nullable};
use crate::db::models::Contact;
use crate::domain::consent::CurrentConsents;
use crate::domain::contact_points::{Consent, ContactPoint, EmailEntry, Messenger, PhoneEntry};
use crate::domain::custom_fields::{CustomValues, custom_of, merge_custom};
use crate::domain::external_ref::ExternalRef;
use crate::ids::{ClientId, ContactId, UserId};

/// A contact as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e21", "client_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e11",
    "display_name": "Smirnova Anna", "last_name": "Smirnova", "first_name": "Anna", "middle_name": null,
    "position": "Purchasing manager",
    "emails": [{"value": "anna@acme.example", "label": null, "primary": true}],
    "phones": [{"value": "+79123456790", "label": "mobile", "primary": true}],
    "messengers": [{"kind": "telegram", "handle": "@anna_acme"}], "is_primary": true, "notes": null,
    "owner_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01", "consent": null, "consents": {}, "custom": {},
    "external_refs": [{"system": "shop", "id": "C-1002"}], "version": 1,
    "created_at": "2026-11-02T09:16:40.000000Z", "updated_at": "2026-11-02T09:16:40.000000Z",
    "created_by": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01", "updated_by": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01"
}))]
pub struct ContactResponse {
    pub id: ContactId,
    pub client_id: ClientId,
    /// "Last First Middle".
    #[schema(example = "Петрова Анна Сергеевна")]
    pub display_name: String,
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    #[schema(example = "Chief accountant")]
    pub position: Option<String>,
    #[schema(value_type = Vec<EmailEntry>)]
    pub emails: Vec<ContactPoint>,
    /// Phones in E.164.
    #[schema(value_type = Vec<PhoneEntry>)]
    pub phones: Vec<ContactPoint>,
    pub messengers: Vec<Messenger>,
    /// The client's main contact; at most one per client.
    pub is_primary: bool,
    pub notes: Option<String>,
    pub owner_id: Option<UserId>,
    /// A free-form note about consent, kept as written. What exports, call lists and campaigns obey
    /// is `consents`, recorded through `/contacts/{id}/consents`.
    pub consent: Option<Consent>,
    /// The current state of each consent purpose (`marketing_email`, `calls`, …): its latest record
    /// in the consent ledger (`/contacts/{id}/consents`). A purpose never recorded is absent, and
    /// counts as not granted. Filter on it as `consent.<purpose>`.
    pub consents: CurrentConsents,
    /// The workspace's custom fields: `{key: value}` (see `/custom-fields`).
    #[schema(value_type = crate::api::schemas::CustomValues)]
    pub custom: serde_json::Value,
    /// The ids other systems know the contact by: find it with `?external_ref=system:id`, upsert
    /// it with `PUT /contacts/by-ref/{system}/{id}`.
    pub external_refs: Vec<ExternalRef>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
}

impl From<&Contact> for ContactResponse {
    fn from(contact: &Contact) -> Self {
        Self {
            id: contact.id,
            client_id: contact.client_id,
            display_name: contact.display_name.clone(),
            last_name: contact.last_name.clone(),
            first_name: contact.first_name.clone(),
            middle_name: contact.middle_name.clone(),
            position: contact.position.clone(),
            emails: contact.emails.0.clone(),
            phones: contact.phones.0.clone(),
            messengers: contact.messengers.0.clone(),
            is_primary: contact.is_primary,
            notes: contact.notes.clone(),
            owner_id: contact.owner_id,
            consent: contact.consent.as_ref().map(|consent| consent.0.clone()),
            consents: contact.consents.0.clone(),
            custom: contact.custom.clone(),
            external_refs: contact.external_refs.0.clone(),
            version: contact.version,
            created_at: contact.created_at,
            updated_at: contact.updated_at,
            created_by: contact.created_by,
            updated_by: contact.updated_by,
        }
    }
}

/// A contact to create; also what an update is merged into before the same checks run. The
/// default, with nothing set, is what an upsert that creates a contact fills from its body.
#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "client_id": "0193a5a0-7c1e-7b4a-9f3e-2d6c8b1a4e50",
    "first_name": "Anna",
    "last_name": "Smirnova",
    "position": "Purchasing manager",
    "emails": [{"value": "anna@acme.example"}],
    "phones": [{"value": "+7 912 345-67-90", "label": "mobile"}]
}))]
pub struct ContactInput {
    /// The client this person acts for; or name it by `client_ref`.
    pub client_id: Option<ClientId>,
    /// The client by another system's id, in place of `client_id`.
    #[serde(default)]
    pub client_ref: Option<ExternalRef>,
    /// A contact needs a last or a first name.
    #[validate(length(max = 200))]
    #[schema(example = "Петрова", max_length = 200)]
    pub last_name: Option<String>,
    #[validate(length(max = 200))]
    #[schema(example = "Анна", max_length = 200)]
    pub first_name: Option<String>,
    #[validate(length(max = 200))]
    #[schema(example = "Сергеевна", max_length = 200)]
    pub middle_name: Option<String>,
    #[validate(length(max = 200))]
    #[schema(example = "Chief accountant", max_length = 200)]
    pub position: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<EmailEntry>)]
    pub emails: Vec<ContactPoint>,
    /// Any format; stored in E.164.
    #[serde(default)]
    #[schema(value_type = Vec<PhoneEntry>)]
    pub phones: Vec<ContactPoint>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub messengers: Vec<Messenger>,
    /// Makes this the client's primary contact, taking the flag from the previous one.
    #[serde(default)]
    pub is_primary: bool,
    #[validate(length(max = 10000))]
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
    /// The responsible user; the creator when omitted.
    pub owner_id: Option<UserId>,
    #[validate(nested)]
    pub consent: Option<Consent>,
    /// Values of the workspace's custom fields for this entity: `{key: value}`.
    #[serde(default)]
    #[schema(value_type = crate::api::schemas::CustomValues)]
    pub custom: CustomValues,
    /// The ids other systems know the contact by; each names one contact of the workspace.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub external_refs: Vec<ExternalRef>,
}

impl From<&Contact> for ContactInput {
    fn from(contact: &Contact) -> Self {
        let response = ContactResponse::from(contact);
        Self {
            client_id: Some(response.client_id),
            client_ref: None,
            last_name: response.last_name,
            first_name: response.first_name,
            middle_name: response.middle_name,
            position: response.position,
            emails: response.emails,
            phones: response.phones,
            messengers: response.messengers,
            is_primary: response.is_primary,
            notes: response.notes,
            owner_id: response.owner_id,
            consent: response.consent,
            custom: custom_of(&contact.custom),
            external_refs: response.external_refs,
        }
    }
}

/// A partial update: absent fields stay; `null` clears a field (an empty list for lists).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"position": "Head of purchasing", "is_primary": true}))]
pub struct UpdateContact {
    /// Moves the contact to another client.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<String>, format = Uuid)]
    pub client_id: Option<ClientId>,
    /// Moves the contact to the client another system knows by this id.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub client_ref: Option<ExternalRef>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub middle_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub position: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<EmailEntry>>)]
    pub emails: Option<Option<Vec<ContactPoint>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<PhoneEntry>>)]
    pub phones: Option<Option<Vec<ContactPoint>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<Messenger>>, max_items = 20)]
    pub messengers: Option<Option<Vec<Messenger>>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub is_primary: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<Option<UserId>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Consent>)]
    pub consent: Option<Option<Consent>>,
    /// Sets the keys given; `null` clears a key. Keys not sent stay.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<crate::api::schemas::CustomValues>)]
    pub custom: Option<CustomValues>,
    /// Replaces the contact's refs; `null` clears them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<ExternalRef>>, max_items = 20)]
    pub external_refs: Option<Option<Vec<ExternalRef>>>,
}

impl UpdateContact {
    pub(super) fn apply_to(self, input: &mut ContactInput) {
        macro_rules! set {
            ($($field:ident),+) => { $(if let Some(value) = self.$field { input.$field = value; })+ };
        }
        set!(last_name, first_name, middle_name, position, notes, owner_id, consent, is_primary);
        by_ref::change_client((&mut input.client_id, &mut input.client_ref), self.client_id, self.client_ref);
        if let Some(refs) = self.external_refs {
            input.external_refs = refs.unwrap_or_default();
        }
        if let Some(emails) = self.emails {
            input.emails = emails.unwrap_or_default();
        }
        if let Some(phones) = self.phones {
            input.phones = phones.unwrap_or_default();
        }
        if let Some(messengers) = self.messengers {
            input.messengers = messengers.unwrap_or_default();
        }
        merge_custom(&mut input.custom, self.custom);
    }
}
