//! The closed vocabularies of the domain, stored as text and sent as snake_case strings.

/// Declares an enum stored as text: serde and OpenAPI as snake_case strings, `as_str`, `FromStr`
/// and the list of every value (for CHECK constraints and error messages).
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                $name::ALL.iter().copied().find(|item| item.as_str() == value).ok_or_else(|| {
                    let allowed: Vec<&str> = $name::ALL.iter().map(|item| item.as_str()).collect();
                    format!("must be one of {}", allowed.join(", "))
                })
            }
        }
    };
}

pub(crate) use text_enum;

text_enum!(
    /// An individual or a legal entity.
    ClientKind { Person => "person", Company => "company" }
);
text_enum!(
    /// What the client is to us.
    Relationship {
        Customer => "customer",
        Prospect => "prospect",
        Supplier => "supplier",
        Partner => "partner",
        Other => "other",
    }
);
text_enum!(
    /// Where the client is in their life with us.
    LifecycleStage {
        Lead => "lead",
        Prospect => "prospect",
        Customer => "customer",
        Loyal => "loyal",
        Churned => "churned",
    }
);
text_enum!(
    /// How the client came to us.
    Source {
        Website => "website",
        Pos => "pos",
        MobileApp => "mobile_app",
        Event => "event",
        PaperForm => "paper_form",
        Phone => "phone",
        Email => "email",
        Referral => "referral",
        Import => "import",
        Other => "other",
    }
);
text_enum!(
    Gender { Male => "male", Female => "female", Other => "other" }
);
text_enum!(
    /// A messaging service.
    MessengerKind {
        Telegram => "telegram",
        Whatsapp => "whatsapp",
        Viber => "viber",
        Skype => "skype",
        Other => "other",
    }
);

text_enum!(
    /// What reaching a stage means for a deal.
    StageKind { Open => "open", Won => "won", Lost => "lost" }
);

text_enum!(
    /// A touch with a client.
    ActivityKind {
        Call => "call",
        Meeting => "meeting",
        Email => "email",
        Message => "message",
        Task => "task",
        Note => "note",
        Visit => "visit",
    }
);
text_enum!(
    /// Who started the touch.
    Direction { Inbound => "inbound", Outbound => "outbound" }
);
text_enum!(
    /// How the touch happened.
    Channel {
        Phone => "phone",
        Email => "email",
        Sms => "sms",
        Messenger => "messenger",
        InPerson => "in_person",
        Video => "video",
        Other => "other",
    }
);
text_enum!(
    /// Why the contact happened.
    ContactReason {
        ColdCall => "cold_call",
        CompanyOffer => "company_offer",
        ClientRequest => "client_request",
        OrderWaiting => "order_waiting",
        FollowUp => "follow_up",
        Support => "support",
        Complaint => "complaint",
        Other => "other",
    }
);
text_enum!(
    /// An activity's state; `overdue` is derived: planned and past its due time.
    ActivityStatus { Planned => "planned", Done => "done", Cancelled => "cancelled", Overdue => "overdue" }
);

text_enum!(
    /// The kinds of record that carry custom fields.
    CustomEntity { Client => "client", Contact => "contact", Deal => "deal", Activity => "activity" }
);
text_enum!(
    /// What a custom field holds.
    CustomFieldType {
        Text => "text",
        /// A JSON number.
        Number => "number",
        /// An exact decimal, sent as a string (`"12.50"`).
        Decimal => "decimal",
        /// `YYYY-MM-DD`.
        Date => "date",
        /// RFC 3339, stored in UTC.
        Datetime => "datetime",
        Bool => "bool",
        /// One of `options`.
        Enum => "enum",
        /// A list of distinct `options`.
        MultiEnum => "multi_enum",
        Email => "email",
        /// Stored in E.164.
        Phone => "phone",
        /// An http(s) URL.
        Url => "url",
    }
);
text_enum!(
    /// A dynamic segment is a filter evaluated live; a static one is a list of clients.
    SegmentKind { Dynamic => "dynamic", Static => "static" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_unknown_values_list_the_allowed_ones() {
        for source in Source::ALL {
            assert_eq!(source.as_str().parse::<Source>(), Ok(*source));
        }
        assert_eq!(serde_json::to_value(Source::MobileApp).ok(), Some(serde_json::json!("mobile_app")));
        let error = "fax".parse::<Source>().err().unwrap_or_default();
        assert!(error.contains("mobile_app"), "{error}");
    }
}
