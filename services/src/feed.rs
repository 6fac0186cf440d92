//! The integrator feed: the global order, each event passed through the policy for one
//! organisation and shaped as a CloudEvents 1.0 structured event.

use std::collections::HashMap;

use brobyg_domain::Org;
use brobyg_domain::agreement::Agreement;
use brobyg_domain::case::Case;
use brobyg_domain::volunteer::Volunteer;
use brobyg_projections::feed::{agreement_event_for, case_event_delivered, volunteer_event_for};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{Cursor, DataKeys, DeliveryEvent, Held, Loaded, Store, StoreError};

/// A CloudEvents 1.0 event in structured JSON mode.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CloudEvent {
    /// Always `1.0`.
    pub specversion: &'static str,
    /// Stable id: `<aggregate type>:<aggregate id>:<sequence>`; the same on every read and
    /// every delivery (use it to deduplicate).
    pub id: String,
    /// `/v1/cases/<id>`, `/v1/agreements/<id>` or `/v1/volunteers/<id>`.
    pub source: String,
    /// `dk.brobyg.<aggregate type>.<event type>.v<version>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The aggregate id.
    pub subject: String,
    /// When the event was recorded.
    pub time: DateTime<Utc>,
    /// `application/json`.
    pub datacontenttype: &'static str,
    /// CloudEvents `sequence` extension: the event's place in its source, zero-padded.
    pub sequence: String,
    /// The opaque feed cursor of this event (resume after it).
    pub brobygcursor: String,
    /// CloudEvents distributed-tracing extension: the W3C trace context of the command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The event as the receiving organisation may see it (written out as JSON when shaped,
    /// on the stretch's task, rather than when the page is written).
    #[schema(value_type = Object)]
    pub data: Box<serde_json::value::RawValue>,
}

/// One event as an organisation receives it, with the kinds of personal data it carries about
/// the case's young person (empty: none).
#[derive(Clone, Debug)]
pub struct Shaped {
    /// The CloudEvent.
    pub event: CloudEvent,
    /// The case it is about, when it carries personal data of the case's young person.
    pub case: Option<String>,
    /// The kinds of personal data it carries (categories, `consent`, `concern`, `note`).
    pub personal: std::collections::BTreeSet<&'static str>,
}

/// Who received a batch of deliveries, for the access log.
#[derive(Clone, Debug)]
pub struct Recipient<'a> {
    /// The receiving organisation.
    pub org: &'a Org,
    /// The user (token `sub`), or the subscription or stream delivered to.
    pub reader: String,
    /// The channel: `GET /v1/feed`, `GET /v1/feed/stream`, `webhook`, `nats`.
    pub endpoint: &'a str,
}

/// The access-log entries for delivering `events` to `to`: one per case whose personal data
/// they carry, naming every kind delivered (a page of a hundred events about one case is one
/// entry).
#[must_use]
pub fn delivery_entries(events: &[Shaped], to: &Recipient<'_>, at: DateTime<Utc>) -> Vec<crate::store::AccessEntry> {
    let mut per_case: std::collections::BTreeMap<&str, std::collections::BTreeSet<&'static str>> =
        std::collections::BTreeMap::new();
    for shaped in events {
        if let Some(case) = &shaped.case
            && !shaped.personal.is_empty()
        {
            per_case.entry(case.as_str()).or_default().extend(shaped.personal.iter().copied());
        }
    }
    per_case
        .into_iter()
        .map(|(case, kinds)| crate::store::AccessEntry {
            case_id: case.to_owned(),
            reader_sub: to.reader.clone(),
            reader_org: to.org.to_string(),
            reader_role: "integrator".to_owned(),
            purpose: "integration".to_owned(),
            categories: kinds.into_iter().collect::<Vec<_>>().join(","),
            endpoint: to.endpoint.to_owned(),
            read_at: at,
        })
        .collect()
}

/// Loads each aggregate once per page.
#[derive(Default)]
struct Cache {
    cases: HashMap<String, std::sync::Arc<Held<Case>>>,
    agreements: HashMap<String, Loaded<Agreement>>,
    volunteers: HashMap<String, Loaded<Volunteer>>,
    keys: DataKeys,
}

/// `e` shaped for `org`.
async fn shape(
    store: &Store,
    cache: &mut Cache,
    e: &DeliveryEvent,
    org: &Org,
    now: DateTime<Utc>,
) -> Result<Option<Shaped>, StoreError> {
    let index = usize::try_from(e.sequence).unwrap_or(0).saturating_sub(1);
    let mut personal = std::collections::BTreeSet::new();
    let data = match e.aggregate_type.as_str() {
        "case" => {
            // The policy decides on the case as it stands now (held and brought up to date, as a
            // command decides); what is delivered is the event as the feed row stores it, opened.
            if cache.cases.get(&e.aggregate_id).is_none_or(|l| l.version < index + 1) {
                cache.cases.insert(e.aggregate_id.clone(), store.load_held::<Case>(&e.aggregate_id).await?);
            }
            let loaded = &cache.cases[&e.aggregate_id];
            let event = store.open_feed_event::<Case>(e, &mut cache.keys).await?;
            case_event_delivered(&event, &loaded.aggregate, org, now).map(|d| {
                personal = d.personal;
                d.data
            })
        }
        "agreement" => {
            if cache.agreements.get(&e.aggregate_id).is_none_or(|l| l.events.len() <= index) {
                cache.agreements.insert(e.aggregate_id.clone(), store.load::<Agreement>(&e.aggregate_id).await?);
            }
            let loaded = &cache.agreements[&e.aggregate_id];
            let terms = loaded.aggregate.terms.as_ref();
            match (terms, loaded.events.get(index)) {
                (Some(t), Some(ev)) => agreement_event_for(&ev.payload, (&t.municipality, &t.ngo), org),
                _ => None,
            }
        }
        "volunteer" => {
            if cache.volunteers.get(&e.aggregate_id).is_none_or(|l| l.events.len() <= index) {
                cache.volunteers.insert(e.aggregate_id.clone(), store.load::<Volunteer>(&e.aggregate_id).await?);
            }
            let loaded = &cache.volunteers[&e.aggregate_id];
            match (loaded.aggregate.ngo.as_ref(), loaded.events.get(index)) {
                (Some(ngo), Some(ev)) => volunteer_event_for(&ev.payload, ngo, org),
                _ => None,
            }
        }
        _ => None,
    };
    let case = (e.aggregate_type == "case" && !personal.is_empty()).then(|| e.aggregate_id.clone());
    data.map(|data| Ok(Shaped { event: cloud_event(e, &data)?, case, personal })).transpose()
}

fn cloud_event(e: &DeliveryEvent, data: &serde_json::Value) -> Result<CloudEvent, StoreError> {
    // Written piece by piece rather than with `format!`: six texts for every event of a page.
    let (kind, id) = (e.aggregate_type.as_str(), e.aggregate_id.as_str());
    let mut sequence = itoa::Buffer::new();
    let sequence = sequence.format(e.sequence);
    let (mut tx, mut position) = (itoa::Buffer::new(), itoa::Buffer::new());
    let data = serde_json::value::to_raw_value(data)
        .map_err(|err| StoreError::Corrupt(format!("delivered data is not JSON: {err}")))?;
    Ok(CloudEvent {
        specversion: "1.0",
        id: concat(&[kind, ":", id, ":", sequence]),
        source: concat(&["/v1/", kind, "s/", id]),
        kind: concat(&["dk.brobyg.", kind, ".", &e.event_type, ".v", &e.event_version]),
        subject: e.aggregate_id.clone(),
        time: e.recorded_at,
        datacontenttype: "application/json",
        sequence: zero_padded(sequence),
        brobygcursor: concat(&["v1.", tx.format(e.cursor.tx), ".", position.format(e.cursor.position)]),
        traceparent: e.traceparent.clone(),
        data,
    })
}

/// A number's digits zero-padded to ten characters, as `{:010}` writes it (a sign first).
fn zero_padded(number: &str) -> String {
    const ZEROS: &str = "0000000000";
    match number.strip_prefix('-') {
        Some(digits) => concat(&["-", &ZEROS[..9_usize.saturating_sub(digits.len())], digits]),
        None => concat(&[&ZEROS[..10_usize.saturating_sub(number.len())], number]),
    }
}

/// The texts one after the other, in one allocation.
fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    parts.iter().for_each(|p| out.push_str(p));
    out
}

/// Cases loaded with one query at most.
const CASES_PER_LOAD: usize = 200;

/// The feed events read and shaped together, on a task of their own.
const STRETCH: u32 = 250;

/// One stretch of the feed shaped for one organisation.
struct ShapedStretch {
    /// How many events it read.
    read: usize,
    /// The cursor of the last event it read (the one it started after, if none).
    read_to: Cursor,
    /// Each event's cursor with what the organisation receives of it (nothing: not its), up
    /// to the last the page may need.
    events: Vec<(Cursor, Option<Shaped>)>,
}

/// Which events a stretch reads.
#[derive(Clone, Copy, Debug)]
enum Span {
    /// The first [`STRETCH`] events after a cursor: a page's first stretch, read while the
    /// page's stops are counted.
    First(Cursor),
    /// The events after one stop up to the next ([`Store::feed_stops`]).
    Between(Cursor, Cursor),
}

/// Reads the events of `span` and shapes them for `org`, until `most` of them are the
/// organisation's (the page needs no more of any one stretch).
async fn read_and_shape(
    store: Store,
    org: Org,
    span: Span,
    most: usize,
    now: DateTime<Utc>,
) -> Result<ShapedStretch, StoreError> {
    let page = match span {
        Span::First(after) => store.read_feed_for_delivery(after, STRETCH).await?,
        Span::Between(after, upto) => store.read_feed_between(after, upto).await?,
    };
    // The cases the stretch is about, brought up to date: one query for the events after each
    // held fold, not one per case.
    let ids: std::collections::BTreeSet<&String> =
        page.events.iter().filter(|e| e.aggregate_type == "case").map(|e| &e.aggregate_id).collect();
    let ids: Vec<String> = ids.into_iter().cloned().collect();
    let mut cache = Cache::default();
    for ids in ids.chunks(CASES_PER_LOAD) {
        cache.cases.extend(store.load_held_many::<Case>(ids).await?);
    }
    let (read, read_to) = (page.events.len(), page.next);
    let (mut events, mut theirs) = (Vec::with_capacity(read), 0);
    for e in page.events {
        let shaped = shape(&store, &mut cache, &e, &org, now).await?;
        theirs += usize::from(shaped.is_some());
        events.push((e.cursor, shaped));
        if theirs >= most {
            break;
        }
    }
    Ok(ShapedStretch { read, read_to, events })
}

/// A stretch of the feed being read and shaped on a task of its own. Dropped, it stops (a page
/// given up half-way, a client gone, reads no further).
struct Stretch(tokio::task::JoinHandle<Result<ShapedStretch, StoreError>>);

impl Stretch {
    async fn start(store: &Store, org: &Org, span: Span, most: usize, now: DateTime<Utc>) -> Self {
        let task = tokio::spawn(read_and_shape(store.clone(), org.clone(), span, most, now));
        // Tokio runs a task spawned on a worker next on that worker, in a slot the other worker
        // cannot take, once the spawner yields: starting the next stretch without yielding would
        // hold this one back until the page waits. Yielding starts it now; the page goes on, on
        // whichever worker is free.
        tokio::task::yield_now().await;
        Self(task)
    }

    async fn shaped(mut self) -> Result<ShapedStretch, StoreError> {
        match (&mut self.0).await {
            Ok(stretch) => stretch,
            // A panic while reading is the page's own, as if it had been read in place.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(StoreError::Persistence(format!("the feed's read of a stretch stopped: {e}"))),
        }
    }
}

impl Drop for Stretch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Up to `limit` events `org` may see after `after`, and the cursor to continue from (past the
/// events it may not see, too). The page's first stretch (the first `STRETCH` events) is read
/// and shaped while the events the page may need (`limit` of them, were every one the
/// organisation's) are counted, with where each further stretch of `STRETCH` of them ends;
/// every further stretch is then read and shaped at once, each on a task of its own, so that
/// the database and both cores work on one page together. What is shaped beyond the page is
/// dropped; when the organisation may not see enough of them, the next stretches are counted
/// from where these ended.
///
/// The first stretch and the count may see the feed at different moments. An event that
/// becomes visible later sorts after every event visible before (on PostgreSQL by decision
/// 0002; SQLite's positions commit in order), so whenever the count found further stretches
/// (more than a stretch of events) the first stretch read exactly the count's first stretch;
/// the further stretches are taken only when it ended where the count's first stop is, and
/// otherwise the page goes on from where the first stretch ended.
pub async fn page_for(
    store: &Store,
    org: &Org,
    after: Cursor,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<(Vec<Shaped>, Cursor), StoreError> {
    let mut out = Vec::new();
    let mut cursor = after;
    loop {
        let missing = limit - out.len();
        let first = Stretch::start(store, org, Span::First(cursor), missing, now).await;
        let stops = store.feed_stops(cursor, u32::try_from(missing).unwrap_or(u32::MAX).max(STRETCH), STRETCH).await?;
        let mut further = Vec::with_capacity(stops.len());
        for pair in stops.windows(2) {
            further.push((Stretch::start(store, org, Span::Between(pair[0], pair[1]), missing, now).await, pair[1]));
        }
        let first = first.shaped().await?;
        for (at, shaped) in first.events {
            out.extend(shaped);
            cursor = at;
            if out.len() >= limit {
                return Ok((out, cursor));
            }
        }
        cursor = first.read_to;
        if first.read < STRETCH as usize {
            // Nothing more was there to read.
            return Ok((out, cursor));
        }
        if stops.first() != Some(&cursor) {
            // The count saw the feed's tail at another moment than the first stretch did:
            // count again from where the first stretch ended.
            continue;
        }
        for (stretch, upto) in further {
            for (at, shaped) in stretch.shaped().await?.events {
                out.extend(shaped);
                cursor = at;
                if out.len() >= limit {
                    return Ok((out, cursor));
                }
            }
            // Every event up to the stop has been passed (the page moves on even were one
            // missing from the stretch).
            cursor = upto;
        }
    }
}

/// The organisations that may receive something of a feed event.
async fn candidates(store: &Store, cache: &mut Cache, e: &DeliveryEvent) -> Result<Vec<Org>, StoreError> {
    Ok(match e.aggregate_type.as_str() {
        "case" => {
            let index = usize::try_from(e.sequence).unwrap_or(0).saturating_sub(1);
            if cache.cases.get(&e.aggregate_id).is_none_or(|l| l.version < index + 1) {
                cache.cases.insert(e.aggregate_id.clone(), store.load_held::<Case>(&e.aggregate_id).await?);
            }
            let case = &cache.cases[&e.aggregate_id].aggregate;
            // A municipality the case moved away from receives its own records up to the move.
            let mut orgs: Vec<Org> = case.municipality.iter().chain(case.ngo()).cloned().collect();
            for m in &case.moves {
                if !orgs.contains(&m.from) {
                    orgs.push(m.from.clone());
                }
            }
            orgs
        }
        "agreement" => {
            let loaded = store.load::<Agreement>(&e.aggregate_id).await?;
            loaded.aggregate.terms.map(|t| vec![t.municipality, t.ngo]).unwrap_or_default()
        }
        "volunteer" => store.load::<Volunteer>(&e.aggregate_id).await?.aggregate.ngo.into_iter().collect(),
        _ => vec![],
    })
}

/// Up to `limit` feed events after `after`, each shaped for every organisation that may
/// receive it, and the cursor to continue from.
pub async fn page_all(
    store: &Store,
    after: Cursor,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<(Vec<(Org, Shaped)>, Cursor), StoreError> {
    let page = store.read_feed_for_delivery(after, limit).await?;
    let mut cache = Cache::default();
    let mut out = Vec::new();
    for e in page.events {
        let orgs = candidates(store, &mut cache, &e).await?;
        for org in &orgs {
            if let Some(ce) = shape(store, &mut cache, &e, org, now).await? {
                out.push((org.clone(), ce));
            }
        }
    }
    Ok((out, page.next))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CloudEvent's texts, written piece by piece, are what `format!` writes.
    #[test]
    fn a_cloud_events_texts_are_the_formatted_ones() {
        for (sequence, tx, position) in [
            (1, 0, 1),
            (42, 812_345, 9_999),
            (9_999_999_999, u64::MAX >> 1, i64::MAX),
            (12_345_678_901, 7, 0),
            (-5, 1, -1),
        ] {
            let e = DeliveryEvent {
                cursor: Cursor { tx, position },
                aggregate_type: "case".into(),
                aggregate_id: "0193e0b5-7c1f-7d6a-9a3b-2f4c5d6e7f80".into(),
                sequence,
                event_type: "ItemAdded".into(),
                event_version: "2".into(),
                payload: "null".into(),
                traceparent: Some("00-abc-def-01".into()),
                binds_place: true,
                recorded_at: DateTime::<Utc>::UNIX_EPOCH,
            };
            let c = cloud_event(&e, &serde_json::json!({ "a": [1, "b"] })).expect("shaped");
            assert_eq!(c.data.get(), r#"{"a":[1,"b"]}"#);
            assert_eq!(c.id, format!("case:{}:{sequence}", e.aggregate_id));
            assert_eq!(c.source, format!("/v1/cases/{}", e.aggregate_id));
            assert_eq!(c.kind, "dk.brobyg.case.ItemAdded.v2");
            assert_eq!(c.sequence, format!("{sequence:010}"));
            assert_eq!(c.brobygcursor, e.cursor.to_string());
            assert_eq!(c.traceparent.as_deref(), Some("00-abc-def-01"));
        }
    }
}
