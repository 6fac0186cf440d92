//! The event-store conformance suite, run against both backends.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brobyg::store::{CommandError, Cursor, Store};
use brobyg_domain::case::{Case, CaseError, CaseEvent, Item};
use brobyg_domain::{AgreementId, CaseId, Category, ConsentId, ItemId, Personal, UserId};
use tokio::sync::Barrier;

use crate::support::*;

crate::on_both_backends!(
    append_and_reload,
    a_refused_command_writes_nothing,
    sixteen_racing_appends_on_one_version_have_one_winner,
    concurrent_commands_lose_no_update,
    eight_writers_and_a_following_reader_see_every_event_once_in_order,
    the_store_folds_every_event_exactly_once,
);

fn item_event(n: u64) -> CaseEvent {
    CaseEvent::ItemAdded {
        item: Item {
            id: ItemId(uuid::Uuid::from_u64_pair(7, n)),
            category: Category::School,
            owner: muni(),
            author: UserId("caseworker-1".into()),
            content: Personal::new(format!("note {n}")),
            added_at: at("2026-11-10T09:00:00Z"),
            measure: None,
            score: None,
        },
    }
}

async fn append_and_reload(db: &TestDb) {
    let store = db.store().await;
    let case = CaseId::new();
    let key = case.to_string();
    let opened = store.execute::<Case>(&key, open_case(case), None, HashMap::new(), |_| true).await.expect("open");
    assert_eq!(opened.version, 1);
    let mut meta = HashMap::new();
    meta.insert("correlation_id".to_owned(), "c-1".to_owned());
    let added = store
        .execute::<Case>(&key, add_item(ItemId::new(), Category::School), Some(1), meta, |_| true)
        .await
        .expect("add");
    assert_eq!(added.version, 2);
    assert_eq!(added.events[0].sequence, 2);

    let loaded = store.load::<Case>(&key).await.expect("load");
    assert_eq!(loaded.version, 2);
    assert_eq!(loaded.events.len(), 2);
    assert_eq!(loaded.aggregate, added.aggregate);
    assert_eq!(loaded.aggregate.items.len(), 1);
    assert_eq!(loaded.events[1].metadata.get("correlation_id").map(String::as_str), Some("c-1"));

    let stale =
        store.execute::<Case>(&key, add_item(ItemId::new(), Category::School), Some(1), HashMap::new(), |_| true).await;
    assert!(matches!(stale, Err(CommandError::VersionMismatch { expected: 1, actual: 2 })), "{stale:?}");

    let missing = store.load::<Case>(&CaseId::new().to_string()).await.expect("load missing");
    assert_eq!((missing.version, missing.events.len()), (0, 0));
    store.close().await;
}

async fn a_refused_command_writes_nothing(db: &TestDb) {
    let store = db.store().await;
    let case = CaseId::new();
    let key = case.to_string();
    store.execute::<Case>(&key, open_case(case), None, HashMap::new(), |_| true).await.expect("open");
    let agreement = approved_agreement(&store, AgreementId::new()).await;
    // No consent yet: the referral (two events if it passed) is refused whole.
    let item = ItemId::new();
    store.execute::<Case>(&key, add_item(item, Category::School), None, HashMap::new(), |_| true).await.expect("add");
    let refused = store.execute::<Case>(&key, refer(agreement, &[item]), None, HashMap::new(), |_| true).await;
    assert!(matches!(refused, Err(CommandError::Rejected(CaseError::ConsentMissing { .. }))), "{refused:?}");
    let loaded = store.load::<Case>(&key).await.expect("load");
    assert_eq!(loaded.version, 2);
    // On PostgreSQL an event reaches the feed once every older transaction of the cluster has
    // finished (the xmin bound), so other tests' transactions may delay it briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    let in_feed = loop {
        let page = store.read_feed(Cursor::START, 100).await.expect("feed");
        let n = page.events.iter().filter(|e| e.aggregate_id == key).count();
        if n >= 2 || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(in_feed, 2, "the two committed events, and not the refused referral's");
    store.close().await;
}

async fn sixteen_racing_appends_on_one_version_have_one_winner(db: &TestDb) {
    let store = db.store().await;
    let case = CaseId::new();
    let key = case.to_string();
    store.execute::<Case>(&key, open_case(case), None, HashMap::new(), |_| true).await.expect("open");
    let barrier = Arc::new(Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.append::<Case>(&key, 1, vec![item_event(n)], HashMap::new()).await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(events) => {
                winners += 1;
                assert_eq!(events[0].sequence, 2);
            }
            Err(CommandError::Conflict) => {}
            Err(other) => panic!("expected a typed conflict, got {other:?}"),
        }
    }
    assert_eq!(winners, 1);
    let loaded = store.load::<Case>(&key).await.expect("load");
    assert_eq!(loaded.version, 2);
    assert_eq!(loaded.aggregate.items.len(), 1);
    store.close().await;
}

async fn concurrent_commands_lose_no_update(db: &TestDb) {
    let store = db.store().await;
    let case = CaseId::new();
    let key = case.to_string();
    store.execute::<Case>(&key, open_case(case), None, HashMap::new(), |_| true).await.expect("open");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                let item = ItemId::new();
                let result =
                    store.execute::<Case>(&key, add_item(item, Category::School), None, HashMap::new(), |_| true).await;
                (item, result)
            })
        })
        .collect();
    let mut acknowledged = HashSet::new();
    for task in tasks {
        match task.await.expect("task") {
            (item, Ok(_)) => {
                acknowledged.insert(item);
            }
            (_, Err(CommandError::Conflict)) => {}
            (_, Err(other)) => panic!("expected success or a typed conflict, got {other:?}"),
        }
    }
    assert!(!acknowledged.is_empty());
    let loaded = store.load::<Case>(&key).await.expect("load");
    let stored: HashSet<ItemId> = loaded.aggregate.items.keys().copied().collect();
    assert_eq!(stored, acknowledged, "every acknowledged write is stored, and nothing else");
    assert_eq!(loaded.version, 1 + acknowledged.len());
    store.close().await;
}

async fn eight_writers_and_a_following_reader_see_every_event_once_in_order(db: &TestDb) {
    const WRITERS: u64 = 8;
    const PER_WRITER: u64 = 500;
    const CASES_PER_WRITER: u64 = 5;
    let store = db.store().await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let cases: Vec<String> = (0..CASES_PER_WRITER).map(|_| CaseId::new().to_string()).collect();
                for n in 0..PER_WRITER {
                    let case = &cases[(n % CASES_PER_WRITER) as usize];
                    let version = (n / CASES_PER_WRITER) as usize;
                    store
                        .append::<Case>(case, version, vec![item_event(w * PER_WRITER + n)], HashMap::new())
                        .await
                        .expect("append");
                }
            })
        })
        .collect();

    let expected = (WRITERS * PER_WRITER) as usize;
    let mut seen: HashSet<(String, i64)> = HashSet::new();
    let mut last_sequence: HashMap<String, i64> = HashMap::new();
    let mut reader = store.clone();
    let mut cursor = Cursor::START;
    let mut restarted = false;
    let deadline = Instant::now() + Duration::from_secs(180);
    while seen.len() < expected {
        assert!(Instant::now() < deadline, "reader saw {} of {expected} events before the deadline", seen.len());
        let page = reader.read_feed(cursor, 97).await.expect("read feed");
        for e in &page.events {
            assert!(e.cursor > cursor, "cursor moves forward");
            assert!(
                seen.insert((e.aggregate_id.clone(), e.sequence)),
                "event seen twice: {}#{}",
                e.aggregate_id,
                e.sequence
            );
            let last = last_sequence.entry(e.aggregate_id.clone()).or_insert(0);
            assert_eq!(e.sequence, *last + 1, "case {} jumps from {} to {}", e.aggregate_id, last, e.sequence);
            *last = e.sequence;
            cursor = e.cursor;
        }
        assert_eq!(page.next, cursor);
        if !restarted && seen.len() >= expected / 2 {
            // Simulate a restart: store the cursor, drop the connection, resume from storage.
            reader.save_consumer_cursor("conformance-reader", &cursor).await.expect("save");
            let stored = cursor;
            reader = Store::connect(&db.url, 2).await.expect("reconnect");
            cursor = reader.consumer_cursor("conformance-reader").await.expect("load").expect("a stored cursor");
            assert_eq!(cursor, stored);
            restarted = true;
        }
        if page.events.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    for w in writers {
        w.await.expect("writer");
    }
    assert!(restarted);
    assert_eq!(seen.len(), expected);
    assert_eq!(last_sequence.len(), (WRITERS * CASES_PER_WRITER) as usize);
    assert!(last_sequence.values().all(|s| *s == (PER_WRITER / CASES_PER_WRITER) as i64));
    let tail = reader.read_feed(cursor, 100).await.expect("tail");
    assert!(tail.events.is_empty(), "nothing after the last event");
    reader.close().await;
    store.close().await;
}

/// cqrs-es 0.5.0's snapshot and aggregate stores apply a command's events twice (once through
/// the event sink, once when building the snapshot). This fails if the store is switched to
/// one of them: the referral's disclosure would be folded twice into the loaded case.
async fn the_store_folds_every_event_exactly_once(db: &TestDb) {
    let store = db.store().await;
    let case = CaseId::new();
    let key = case.to_string();
    let agreement = approved_agreement(&store, AgreementId::new()).await;
    let (identity, school) = (ItemId::new(), ItemId::new());
    for command in [
        open_case(case),
        add_item(identity, Category::Identity),
        add_item(school, Category::School),
        consent(ConsentId::new(), &[Category::Identity, Category::School]),
        refer(agreement, &[identity, school]),
    ] {
        store.execute::<Case>(&key, command, None, HashMap::new(), |_| true).await.expect("command");
    }
    // The next command decides on the aggregate as the store loads it.
    let next =
        store.execute::<Case>(&key, add_item(ItemId::new(), Category::Health), None, HashMap::new(), |_| true).await;
    let next = next.expect("add item after referral");
    assert_eq!(next.version, 7);
    assert_eq!(next.aggregate.disclosures.len(), 1, "one referral, one disclosure");
    assert_eq!(next.aggregate.items.len(), 3);
    let reloaded = store.load::<Case>(&key).await.expect("load");
    assert_eq!(reloaded.aggregate, next.aggregate);
    store.close().await;
}
