//! The rules of an activity: which client it is about, when it was completed, and when its
//! reminder fires again.

use chrono::{DateTime, Utc};

use super::FieldCode;
use super::Violation;
use crate::ids::ClientId;

/// The client an activity is about: the one given, else the client of its contact, else of its
/// deal.
pub fn client_of(
    given: Option<ClientId>,
    contacts_client: Option<ClientId>,
    deals_client: Option<ClientId>,
) -> Option<ClientId> {
    given.or(contacts_client).or(deals_client)
}

/// An activity's contact and deal must belong to its client; the first that doesn't is named.
pub fn check_links(
    client: Option<ClientId>,
    contacts_client: Option<ClientId>,
    deals_client: Option<ClientId>,
) -> Result<(), Violation> {
    if contacts_client.is_some_and(|owner| Some(owner) != client) {
        return Err(Violation::new(
            "contact_id",
            FieldCode::WrongClient,
            "the contact belongs to another client",
        ));
    }
    if deals_client.is_some_and(|owner| Some(owner) != client) {
        return Err(Violation::new("deal_id", FieldCode::WrongClient, "the deal belongs to another client"));
    }
    Ok(())
}

/// When a done activity was completed: the time given (a call logged afterwards), else now; an
/// activity not done has none.
pub fn completed_at(done: bool, given: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    done.then(|| given.unwrap_or(now))
}

/// Whether a write keeps the reminder's fired and acknowledged state: only while its time stays.
/// A new reminder time re-arms the reminder.
pub fn keeps_reminder_state(stored: Option<DateTime<Utc>>, written: Option<DateTime<Utc>>) -> bool {
    stored == written
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn an_activity_is_about_the_client_its_contact_or_deal_belongs_to() {
        let (ours, theirs) = (ClientId::generate(), ClientId::generate());
        assert_eq!(client_of(None, Some(ours), None), Some(ours));
        assert_eq!(client_of(None, None, Some(ours)), Some(ours));
        assert_eq!(client_of(Some(theirs), Some(ours), None), Some(theirs));
        assert_eq!(check_links(Some(ours), Some(ours), Some(ours)), Ok(()));
        assert_eq!(
            check_links(Some(theirs), Some(ours), None).map_err(|v| v.field),
            Err("contact_id".into())
        );
        assert_eq!(
            check_links(Some(ours), Some(ours), Some(theirs)).map_err(|v| v.field),
            Err("deal_id".into())
        );
    }

    #[test]
    fn only_a_done_activity_has_a_completion_time() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).single().unwrap_or_default();
        let earlier = now - chrono::Duration::hours(2);
        assert_eq!(completed_at(true, None, now), Some(now));
        assert_eq!(completed_at(true, Some(earlier), now), Some(earlier));
        assert_eq!(completed_at(false, Some(earlier), now), None);
    }

    #[test]
    fn moving_a_reminder_re_arms_it() {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).single();
        assert!(keeps_reminder_state(at, at));
        assert!(!keeps_reminder_state(at, at.map(|at| at + chrono::Duration::minutes(5))));
        assert!(!keeps_reminder_state(at, None));
    }
}
