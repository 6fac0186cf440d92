//! The event-store conformance suite, run against both backends.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brobyg::store::{CommandError, Cursor, Store};
use brobyg_domain::agreement::{Agreement, AgreementAction, AgreementCommand};
use brobyg_domain::case::{Case, CaseAction, CaseCommand, CaseError, CaseEvent, CustodyHolder, Item};
use brobyg_domain::{AgreementId, CaseId, Category, ConsentId, ItemId, PersonId, Personal, Role, UserId};
use tokio::sync::Barrier;

use crate::support::*;

crate::on_both_backends!(
    append_and_reload,
    a_refused_command_writes_nothing,
    sixteen_racing_appends_on_one_version_have_one_winner,
    concurrent_commands_lose_no_update,
    eight_writers_and_a_following_reader_see_every_event_once_in_order,
    the_store_folds_every_event_exactly_once,
    a_command_returns_its_feed_position_and_chains_to_the_event_it_loaded,
    a_held_fold_sees_another_writers_events_and_goes_with_an_erasure,
    the_delivery_read_carries_the_trace_context_and_seal_version_of_the_whole_read,
    batched_view_writes_leave_the_tables_as_writes_one_at_a_time_do,
    many_commands_creating_keys_at_once_share_a_pool_of_two_connections,
    loading_many_held_folds_at_once_matches_loading_each,
    appends_at_once_commit_together_and_a_conflict_fails_alone,
    a_command_on_an_outdated_held_fold_is_decided_on_what_is_stored,
    the_feed_read_in_stretches_between_its_stops_is_the_feed_read_whole,
    the_access_log_keeps_every_entry_of_a_batch_exactly_and_in_order,
    the_feeds_progress_tells_visible_from_committed_but_not_yet_visible,
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

/// The feed's events of one aggregate once there are `n` of them: on PostgreSQL the feed shows
/// an event only when no transaction that began before it is still open (decision 0002), and
/// other tests' transactions run beside this one.
async fn feed_of(store: &Store, id: &str, n: usize) -> Vec<brobyg::store::FeedEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mine: Vec<_> = whole_feed(store).await.into_iter().filter(|e| e.aggregate_id == id).collect();
        if mine.len() >= n || Instant::now() > deadline {
            return mine;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every event of the feed, page by page.
/// Waits until the feed shows this store's own writes. The feed shows a PostgreSQL transaction
/// once every older one in the cluster has ended (decision 0002): another test's transaction,
/// in another database of the same cluster, may hold the head back a moment. A reader that must
/// see its own writes waits for them, as these tests do.
async fn wait_for_own_writes(store: &Store) {
    let committed = store.last_committed().await.expect("last committed");
    for _ in 0..200 {
        if store.feed_head().await.expect("head") >= committed {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The whole feed, once it shows this store's own writes.
async fn whole_feed(store: &Store) -> Vec<brobyg::store::FeedEvent> {
    wait_for_own_writes(store).await;
    let (mut cursor, mut all) = (Cursor::START, Vec::new());
    loop {
        let page = store.read_feed(cursor, 1_000).await.expect("feed");
        if page.events.is_empty() {
            return all;
        }
        cursor = page.next;
        all.extend(page.events);
    }
}

/// Each of one aggregate's events, in order, carries the hash that chains it to the one before.
fn assert_chained(events: &[brobyg::store::FeedEvent]) {
    use brobyg::store::chain::{Chained, GENESIS, stored_event_hash};
    let mut prev = GENESIS.to_owned();
    for e in events {
        let hash = stored_event_hash(
            &prev,
            Chained {
                aggregate_type: &e.aggregate_type,
                aggregate_id: &e.aggregate_id,
                sequence: e.sequence as u64,
                event_type: &e.event_type,
                event_version: &e.event_version,
                payload: &e.payload,
                metadata: &e.metadata,
            },
        );
        assert_eq!(e.metadata["hash"].as_str(), Some(hash.as_str()), "event {} chains to the one before", e.sequence);
        prev = hash;
    }
}

/// A command appends in one statement: the position it answers with is the feed's own, and the
/// hash it chains to is the one of the event its load read, so the chain verifies.
async fn a_command_returns_its_feed_position_and_chains_to_the_event_it_loaded(db: &TestDb) {
    let store = db.store().await;
    let case = CaseId::new();
    let key = case.to_string();
    let mut positions = Vec::new();
    let opened = store.execute::<Case>(&key, open_case(case), None, HashMap::new(), |_| true).await.expect("open");
    positions.push((opened.version, opened.position.expect("a position")));
    for _ in 0..4 {
        let c = store
            .execute::<Case>(&key, add_item(ItemId::new(), Category::School), None, HashMap::new(), |_| true)
            .await
            .expect("add");
        positions.push((c.version, c.position.expect("a position")));
    }
    for (version, position) in &positions {
        assert_eq!(*position, store.position_of("case", &key, *version).await.expect("position"));
    }
    let mine = feed_of(&store, &key, 5).await;
    assert_eq!(mine.len(), 5);
    assert_chained(&mine);
    // A command that writes several events answers with the position of its last.
    let agreement = AgreementId::new();
    let key = agreement.to_string();
    let mut several = false;
    for (actor, action) in [
        (actor(muni(), Role::Admin), AgreementAction::Draft { id: agreement, terms: terms() }),
        (actor(muni(), Role::Admin), AgreementAction::Approve { version: 1 }),
        (actor(ngo(), Role::Admin), AgreementAction::Approve { version: 1 }),
    ] {
        let c = store
            .execute::<Agreement>(&key, AgreementCommand { actor, action }, None, HashMap::new(), |_| true)
            .await
            .expect("agreement command");
        several |= c.events.len() > 1;
        let position = c.position.expect("a position");
        assert_eq!(position, store.position_of("agreement", &key, c.version).await.expect("position"));
    }
    assert!(several, "one of the commands wrote more than one event");
    store.close().await;
}

/// Two stores with a key cache (two replicas): a case folded and held for commands by one is
/// brought up to date with what the other wrote before it decides (a command pinned to the
/// stored version succeeds on either), and the chain runs on across both.
async fn a_held_fold_sees_another_writers_events_and_goes_with_an_erasure(db: &TestDb) {
    let one = db.store().await.with_key_cache(Duration::from_secs(60));
    let two = db.store().await.with_key_cache(Duration::from_secs(60));
    let case = CaseId::new();
    let key = case.to_string();
    one.execute::<Case>(&key, open_case(case), None, HashMap::new(), |_| true).await.expect("open");
    two.execute::<Case>(&key, add_item(ItemId::new(), Category::School), Some(1), HashMap::new(), |_| true)
        .await
        .expect("two holds the case at version 2");
    for version in 2..8 {
        let writer = if version % 2 == 0 { &one } else { &two };
        let c = writer
            .execute::<Case>(&key, add_item(ItemId::new(), Category::School), Some(version), HashMap::new(), |_| true)
            .await
            .unwrap_or_else(|e| panic!("at version {version}: {e}"));
        assert_eq!(c.version, version + 1);
        assert_eq!(c.aggregate.items.len(), version, "the decision saw every item");
    }
    let loaded = one.load::<Case>(&key).await.expect("load");
    assert_eq!(loaded.version, 8);
    let mine = feed_of(&one, &key, 8).await;
    assert_eq!(mine.len(), 8);
    assert_chained(&mine);
    // After an erasure the held fold is gone: the next command reads the erased record.
    one.destroy_keys(&brobyg::store::data_key_prefix("case", &key), "test").await.expect("erase");
    let err = one
        .execute::<Case>(&key, add_item(ItemId::new(), Category::School), None, HashMap::new(), |_| true)
        .await
        .expect_err("nothing personal is added to an erased record");
    assert!(err.to_string().contains("erased"), "{err}");
    // A fold without the events reads the erased record as the load does.
    let erased = one.load::<Case>(&key).await.expect("load");
    assert!(erased.aggregate.items.values().all(|i| !i.content.is_known()), "{:?}", erased.aggregate.items);
    assert_eq!(one.fold::<Case>(&key).await.expect("fold"), (erased.aggregate, 8));
    one.close().await;
    two.close().await;
}

/// The feed loads the cases of a page with one query (`load_held_many`), each from the fold
/// the cache holds of it: whatever the cache holds, each case comes out as `load` folds it.
async fn loading_many_held_folds_at_once_matches_loading_each(db: &TestDb) {
    let reader = db.store().await.with_key_cache(Duration::from_secs(60));
    let writer = db.store().await;
    let cases: Vec<CaseId> = (0..24).map(|_| CaseId::new()).collect();
    let ids: Vec<String> = cases.iter().map(ToString::to_string).collect();
    // Case i grows to i % 5 + `upto` events.
    let grow = |upto: usize| {
        let (writer, cases) = (&writer, &cases);
        async move {
            for (i, case) in cases.iter().enumerate() {
                let key = case.to_string();
                let current = writer.load::<Case>(&key).await.expect("load").version;
                for version in current..i % 5 + upto {
                    // Custody holders are kept in a list: an event folded twice would show.
                    let command = match version {
                        0 => open_case(*case),
                        v if v % 2 == 1 => add_item(ItemId::new(), Category::School),
                        _ => CaseCommand {
                            actor: caseworker(),
                            action: CaseAction::AddCustodyHolder {
                                holder: CustodyHolder {
                                    id: PersonId(uuid::Uuid::new_v4()),
                                    name: Personal::new("Søren Jensen".into()),
                                    guardian: false,
                                },
                            },
                        },
                    };
                    let expected = (version > 0).then_some(version);
                    writer.execute::<Case>(&key, command, expected, HashMap::new(), |_| true).await.expect("write");
                }
            }
        }
    };
    grow(1).await;
    // The reader holds folds of every other case at their first versions; the writer goes on.
    let some: Vec<String> = ids.iter().step_by(2).cloned().collect();
    let first = reader.load_held_many::<Case>(&some).await.expect("first load");
    assert_eq!(first.len(), some.len());
    grow(4).await;
    // Asked in another order, with an id twice and one that does not exist.
    let mut asked: Vec<String> = ids.iter().rev().cloned().collect();
    asked.insert(3, ids[5].clone());
    asked.push(CaseId::new().to_string());
    for store in [&reader, &writer] {
        let many = store.load_held_many::<Case>(&asked).await.expect("load many");
        let order: Vec<&String> = many.iter().map(|(id, _)| id).collect();
        let mut expected: Vec<&String> = asked[..asked.len() - 1].iter().collect();
        expected.remove(ids.len() - 5);
        assert_eq!(order, expected, "each id once, in the order asked, the missing one left out");
        for (id, held) in &many {
            let loaded = writer.load::<Case>(id).await.expect("load");
            assert_eq!(held.version, loaded.version, "{id}");
            assert_eq!(held.aggregate, loaded.aggregate, "{id}");
            let hash = loaded.events.last().and_then(|e| e.metadata.get("hash").cloned());
            assert_eq!(held.last_hash, hash, "{id}");
        }
    }
    reader.close().await;
    writer.close().await;
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

    // The fold without the events is the same fold.
    assert_eq!(store.fold::<Case>(&key).await.expect("fold"), (loaded.aggregate, 2));

    let missing = store.load::<Case>(&CaseId::new().to_string()).await.expect("load missing");
    assert_eq!((missing.version, missing.events.len()), (0, 0));
    assert_eq!(store.fold::<Case>(&CaseId::new().to_string()).await.expect("fold missing"), (Case::default(), 0));
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

/// A command decides on the fold its process holds without asking for newer events; another
/// process's events make that fold outdated. Whatever the outdated fold would decide — accept,
/// refuse, find another version — the answer is what the stored case decides.
async fn a_command_on_an_outdated_held_fold_is_decided_on_what_is_stored(db: &TestDb) {
    let one = db.store().await.with_key_cache(Duration::from_secs(60));
    let two = db.store().await.with_key_cache(Duration::from_secs(60));
    let case = CaseId::new();
    let key = case.to_string();
    let holder = |id: u128| CaseCommand {
        actor: caseworker(),
        action: CaseAction::AddCustodyHolder {
            holder: CustodyHolder {
                id: PersonId(uuid::Uuid::from_u128(id)),
                name: Personal::new("Søren Jensen".into()),
                guardian: false,
            },
        },
    };
    let remove = |id: u128| CaseCommand {
        actor: caseworker(),
        action: CaseAction::RemoveCustodyHolder {
            holder: PersonId(uuid::Uuid::from_u128(id)),
            reason: "afgørelse om forældremyndighed".into(),
        },
    };
    one.execute::<Case>(&key, open_case(case), None, HashMap::new(), |_| true).await.expect("open");
    one.execute::<Case>(&key, add_item(ItemId::new(), Category::School), None, HashMap::new(), |_| true)
        .await
        .expect("one holds version 2");
    // The other process adds a custody holder: one's fold (version 2) does not know them.
    two.execute::<Case>(&key, holder(500), Some(2), HashMap::new(), |_| true).await.expect("two adds a holder");
    // Refused on the outdated fold (no such holder), accepted on what is stored.
    let removed = one.execute::<Case>(&key, remove(500), None, HashMap::new(), |_| true).await.expect("removed");
    assert_eq!(removed.version, 4);
    assert!(!removed.aggregate.custody_holders.iter().any(|h| h.id == PersonId(uuid::Uuid::from_u128(500))));
    // Another version on the outdated fold (4 against two's 3), the stored one matching.
    two.execute::<Case>(&key, add_item(ItemId::new(), Category::School), Some(4), HashMap::new(), |_| true)
        .await
        .expect("two at 4");
    let at5 = one
        .execute::<Case>(&key, add_item(ItemId::new(), Category::School), Some(5), HashMap::new(), |_| true)
        .await
        .expect("one at 5");
    assert_eq!(at5.version, 6);
    // Accepted on the outdated fold, refused on what is stored: two removes the holder one's fold has.
    two.execute::<Case>(&key, holder(600), None, HashMap::new(), |_| true).await.expect("two adds");
    one.execute::<Case>(&key, add_item(ItemId::new(), Category::School), None, HashMap::new(), |_| true)
        .await
        .expect("one sees 600");
    two.execute::<Case>(&key, remove(600), None, HashMap::new(), |_| true).await.expect("two removes 600");
    let refused =
        one.execute::<Case>(&key, remove(600), None, HashMap::new(), |_| true).await.expect_err("already removed");
    assert!(matches!(refused, CommandError::Rejected(CaseError::UnknownGrantor(_))), "{refused:?}");
    // Not visible on what is stored, visible on the outdated fold: `admit` reads the stored case.
    two.execute::<Case>(&key, holder(700), None, HashMap::new(), |_| true).await.expect("two adds 700");
    let hidden = one
        .execute::<Case>(&key, add_item(ItemId::new(), Category::School), None, HashMap::new(), |c: &Case| {
            !c.custody_holders.iter().any(|h| h.id == PersonId(uuid::Uuid::from_u128(700)))
        })
        .await
        .expect_err("not visible");
    assert!(matches!(hidden, CommandError::NotVisible), "{hidden:?}");
    // Every event once, chained, and both processes fold the same case.
    let loaded = one.load::<Case>(&key).await.expect("load");
    assert_eq!(loaded.version, 10);
    let mine = feed_of(&one, &key, 10).await;
    assert_chained(&mine);
    let next = one
        .execute::<Case>(&key, add_item(ItemId::new(), Category::School), None, HashMap::new(), |_| true)
        .await
        .expect("next");
    assert_eq!(next.aggregate, two.load::<Case>(&key).await.expect("load").aggregate);
    one.close().await;
    two.close().await;
}

/// On SQLite appends that wait for the writer at once commit in one transaction (group commit):
/// each is answered as if alone — a conflicting one with a conflict, the others with their own
/// feed positions — and all of them are in the store.
async fn appends_at_once_commit_together_and_a_conflict_fails_alone(db: &TestDb) {
    let store = db.store().await;
    let cases: Vec<CaseId> = (0..17).map(|_| CaseId::new()).collect();
    for case in &cases {
        store.execute::<Case>(&case.to_string(), open_case(*case), None, HashMap::new(), |_| true).await.expect("open");
    }
    let before = store.append_transactions();
    // Eight commands race on the first case's version 1; sixteen write to one case each.
    let racing = 8;
    let barrier = Arc::new(Barrier::new(racing + cases.len() - 1));
    let tasks: Vec<_> = (0..racing)
        .map(|_| cases[0])
        .chain(cases[1..].iter().copied())
        .map(|case| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                let command = add_item(ItemId::new(), Category::School);
                barrier.wait().await;
                let result = store.execute::<Case>(&case.to_string(), command, Some(1), HashMap::new(), |_| true).await;
                (case, result)
            })
        })
        .collect();
    let (mut winners, mut positions) = (0, HashSet::new());
    for task in tasks {
        let (case, result) = task.await.expect("task");
        match result {
            Ok(committed) => {
                assert_eq!(committed.version, 2, "{case}");
                winners += usize::from(case == cases[0]);
                let position = committed.position.expect("a position");
                assert!(positions.insert(position), "each append has a feed position of its own: {position:?}");
            }
            // Lost on append, or loaded after the winner had committed.
            Err(CommandError::Conflict | CommandError::VersionMismatch { expected: 1, actual: 2 })
                if case == cases[0] => {}
            Err(other) => panic!("{case}: {other:?}"),
        }
    }
    assert_eq!(winners, 1, "one of the racing commands won");
    assert_eq!(positions.len(), cases.len());
    for case in &cases {
        let loaded = store.load::<Case>(&case.to_string()).await.expect("load");
        assert_eq!((loaded.version, loaded.aggregate.items.len()), (2, 1), "{case}");
    }
    let mine = whole_feed(&store).await;
    for position in &positions {
        let e = mine.iter().find(|e| e.cursor == *position).expect("the position is in the feed");
        assert_eq!(e.sequence, 2);
    }
    if db.postgres_name.is_none() {
        let transactions = store.append_transactions() - before;
        assert!(
            transactions < (racing + cases.len() - 1) as u64,
            "{transactions} transactions: no append waited for another"
        );
        assert!(transactions >= 1);
    }
    store.close().await;
}

/// A command holds one connection for its statements on PostgreSQL; one that opens a case also
/// creates the case's data key. Sixteen at once with two connections in all (on PostgreSQL one
/// for commands, one for the pool) must all go through, none waiting for a second connection
/// while holding the first (that would exhaust them and time out after ten seconds).
async fn many_commands_creating_keys_at_once_share_a_pool_of_two_connections(db: &TestDb) {
    db.store().await.close().await;
    let store = Store::connect(&db.url, 2).await.expect("connect").with_kek(test_kek()).with_key_cache(Duration::ZERO);
    let started = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let case = CaseId::new();
                store.execute::<Case>(&case.to_string(), open_case(case), None, HashMap::new(), |_| true).await
            })
        })
        .collect();
    for task in tasks {
        let committed = task.await.expect("task").expect("each command goes through");
        assert_eq!(committed.version, 1);
    }
    assert!(started.elapsed() < Duration::from_secs(8), "no command waited out the pool: {:?}", started.elapsed());
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

crate::on_postgres_only!(the_feed_keeps_its_order_when_transaction_ids_gain_a_digit);

/// Uses up `n` transaction ids of the cluster (one subtransaction that writes takes one), in
/// transactions of at most ten thousand: an open transaction holds back the cluster-wide
/// snapshot horizon, and with it the feed of every other test's database running beside this.
async fn burn_xids(conn: &mut sqlx::PgConnection, n: i64) {
    sqlx::raw_sql("CREATE TEMP TABLE IF NOT EXISTS burn (x int)").execute(&mut *conn).await.expect("burn table");
    // One statement per simple query, so that the block may commit as it goes.
    sqlx::raw_sql(&format!(
        "DO $$ BEGIN FOR i IN 1..{n} LOOP \
           BEGIN INSERT INTO burn VALUES (i); EXCEPTION WHEN others THEN NULL; END; \
           IF i % 10000 = 0 THEN COMMIT; END IF; \
         END LOOP; END $$"
    ))
    .execute(conn)
    .await
    .expect("burn transaction ids");
}

async fn next_xid(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar::<_, String>("SELECT pg_current_xact_id()::text")
        .fetch_one(conn)
        .await
        .expect("xid")
        .parse()
        .expect("number")
}

/// The feed is ordered by the writing transaction's id as a number: when the ids gain a digit
/// (9 999 → 10 000), an order by their text would put the newer events first and a reader
/// following its cursor would skip the older ones for good.
async fn the_feed_keeps_its_order_when_transaction_ids_gain_a_digit(db: &TestDb) {
    use sqlx::Connection;
    let store = db.store().await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let mut key = String::new();
    let mut boundary = 0;
    for _ in 0..3 {
        // A fresh case each try: a try whose first event landed past the boundary (other tests
        // spend transaction ids too) leaves its case opened.
        let case = CaseId::new();
        key = case.to_string();
        let now = next_xid(&mut conn).await;
        boundary = 10_i64.pow(now.to_string().len() as u32);
        if boundary - now > 20_000_000 {
            eprintln!("NOT RUN: the cluster's transaction ids ({now}) are too far from {boundary} to cross here");
            store.close().await;
            return;
        }
        burn_xids(&mut conn, (boundary - now - 40).max(0)).await;
        let other = CaseId::new();
        store
            .execute::<Case>(&other.to_string(), open_case(other), None, HashMap::new(), |_| true)
            .await
            .expect("open");
        store.execute::<Case>(&key, open_case(case), None, HashMap::new(), |_| true).await.expect("open");
        let first: String =
            sqlx::query_scalar("SELECT tx_id::text FROM events WHERE aggregate_id = $1 AND sequence = 1")
                .bind(&key)
                .fetch_one(&mut conn)
                .await
                .expect("tx");
        if first.parse::<i64>().expect("number") < boundary {
            break;
        }
    }
    let now = next_xid(&mut conn).await;
    burn_xids(&mut conn, (boundary - now + 5).max(0)).await;
    store
        .execute::<Case>(&key, add_item(ItemId::new(), Category::School), None, HashMap::new(), |_| true)
        .await
        .expect("add");
    let txs: Vec<String> =
        sqlx::query_scalar("SELECT tx_id::text FROM events WHERE aggregate_id = $1 ORDER BY sequence")
            .bind(&key)
            .fetch_all(&mut conn)
            .await
            .expect("txs");
    assert_eq!(txs.len(), 2);
    assert!(txs[0].len() < txs[1].len(), "the case's two events straddle {boundary}: {txs:?}");
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&mut conn).await.expect("count");

    wait_for_own_writes(&store).await;

    // A reader following its cursor one event at a time sees every event, in order.
    let mut cursor = Cursor::START;
    let mut seen = Vec::new();
    loop {
        let page = store.read_feed(cursor, 1).await.expect("page");
        let Some(e) = page.events.first() else { break };
        assert!(e.cursor > cursor, "the cursor moves forward");
        seen.push((e.aggregate_id.clone(), e.sequence));
        cursor = page.next;
    }
    assert_eq!(seen.len() as i64, total, "every event once: {seen:?}");
    let mine: Vec<i64> = seen.iter().filter(|(id, _)| *id == key).map(|(_, s)| *s).collect();
    assert_eq!(mine, vec![1, 2]);
    assert_eq!(store.feed_head().await.expect("head"), cursor, "the head is the last event");
    store.close().await;
}

/// The feed read for delivery and the views picks the trace context and the seal version out of
/// each event's metadata without parsing the rest, and keeps the payload as its stored text:
/// every event, field and payload as the whole read has them, and those two entries alike
/// (present or absent).
async fn the_delivery_read_carries_the_trace_context_and_seal_version_of_the_whole_read(db: &TestDb) {
    let store = db.store().await;
    let case = CaseId::new();
    let key = case.to_string();
    let traced = HashMap::from([(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    )]);
    store.execute::<Case>(&key, open_case(case), None, traced, |_| true).await.expect("open");
    store
        .execute::<Case>(&key, add_item(ItemId::new(), Category::School), None, HashMap::new(), |_| true)
        .await
        .expect("add");
    let whole = feed_of(&store, &key, 2).await;
    assert_eq!(whole.len(), 2);
    let mut cursor = Cursor::START;
    let mut lean = Vec::new();
    loop {
        let page = store.read_feed_for_delivery(cursor, 1_000).await.expect("feed");
        if page.events.is_empty() {
            break;
        }
        cursor = page.next;
        lean.extend(page.events.into_iter().filter(|e| e.aggregate_id == key));
    }
    assert_eq!(lean.len(), 2);
    for (w, l) in whole.iter().zip(&lean) {
        assert_eq!(
            (&w.cursor, &w.aggregate_type, w.sequence, &w.event_type, &w.event_version, w.recorded_at),
            (&l.cursor, &l.aggregate_type, l.sequence, &l.event_type, &l.event_version, l.recorded_at)
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&l.payload).expect("JSON"), w.payload);
        assert!(l.payload.contains("$sealed"), "the payload as stored, sealed: {}", l.payload);
        assert!(w.metadata["hash"].is_string(), "the whole read has the chain hash");
        assert_eq!(w.metadata.get("traceparent").and_then(|t| t.as_str()), l.traceparent.as_deref());
        assert_eq!(w.metadata["seal_version"], "2", "every event written now is sealed in place");
        assert!(l.binds_place, "and the delivery read says so");
    }
    assert!(lean[0].traceparent.as_deref().is_some_and(|t| t.starts_with("00-4bf92f")));
    assert!(lean[1].traceparent.is_none());
    // The views' read: the same events in the same order, each payload as the text stored.
    let mut cursor = Cursor::START;
    let mut views = Vec::new();
    loop {
        let page = store.read_feed_for_views(cursor, 1).await.expect("views feed");
        let Some(last) = page.events.last() else { break };
        assert_eq!(page.next, last.cursor);
        cursor = page.next;
        views.extend(page.events.into_iter().filter(|e| e.aggregate_id == key));
    }
    assert_eq!(views.len(), 2);
    for (w, v) in whole.iter().zip(&views) {
        assert_eq!(
            (&w.cursor, &w.aggregate_type, w.sequence, &w.event_type),
            (&v.cursor, &v.aggregate_type, v.sequence, &v.event_type)
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&v.payload).expect("JSON"), w.payload);
        assert!(v.payload.contains("$sealed"), "the payload as stored, sealed: {}", v.payload);
    }
    store.close().await;
}

/// A deterministic mix of every kind of view write over a few hundred cases, their concerns
/// and a few volunteers, in an order a feed could bring them (several writes to a row, moves of
/// a case between reports and receipts of its concerns).
fn view_writes() -> Vec<brobyg_projections::summaries::ViewWrite> {
    use brobyg_domain::volunteer::VolunteerStatus;
    use brobyg_domain::{CaseState, Org};
    use brobyg_projections::summaries::ViewWrite;
    let org = |s: &str| -> Org { s.parse().expect("org") };
    let municipalities = ["municipality:0101", "municipality:0746", "municipality:0751"];
    let ngos = ["ngo:kfum", "ngo:red-cross"];
    let states = [CaseState::Referred, CaseState::Accepted, CaseState::InCourse, CaseState::Closed];
    let statuses = [VolunteerStatus::Active, VolunteerStatus::Paused, VolunteerStatus::Retired];
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-02T08:00:00Z").expect("time").to_utc();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut case_version = [0i64; 300];
    let mut case_home: Vec<usize> = (0..300).map(|i| i % 3).collect();
    let mut concerns: Vec<(String, usize)> = Vec::new();
    let mut volunteer_version = [0i64; 12];
    let mut writes = Vec::new();
    // Every case opens first (a page of openings is cut into statements of every size).
    for (c, version) in case_version.iter_mut().enumerate() {
        *version = 1;
        writes.push(ViewWrite::CaseOpened {
            case: format!("case-{c:03}"),
            municipality: org(municipalities[case_home[c]]),
            young_person: format!("person-{c:03}"),
            at: start + chrono::Duration::minutes(c as i64),
            version: 1,
        });
    }
    for i in 0..1500 {
        let at = start + chrono::Duration::hours(10) + chrono::Duration::minutes(i);
        // Most writes go to a few busy cases, as a feed's pages do.
        let c = if next(3) == 0 { next(300) } else { next(12) };
        let case = format!("case-{c:03}");
        let v = next(12);
        let volunteer = format!("volunteer-{v:02}");
        match next(11) {
            0 | 1 => {
                case_version[c] += 1;
                writes.push(ViewWrite::CaseReferred {
                    case,
                    ngo: org(ngos[next(2)]),
                    programme: format!("programme-{}", next(3)),
                    at,
                    version: case_version[c],
                });
            }
            2 => {
                case_version[c] += 1;
                writes.push(ViewWrite::CaseState { case, state: states[next(4)], at, version: case_version[c] });
            }
            3 => {
                case_version[c] += 1;
                writes.push(ViewWrite::CaseVersion { case, version: case_version[c] });
            }
            4 => {
                case_version[c] += 1;
                case_home[c] = (case_home[c] + 1 + next(2)) % 3;
                let to = org(municipalities[case_home[c]]);
                writes.push(ViewWrite::CaseMoved { case: case.clone(), to: to.clone(), at, version: case_version[c] });
                writes.push(ViewWrite::ConcernsMoved { case, to });
            }
            5 => {
                case_version[c] += 1;
                let concern = format!("concern-{:04}", concerns.len());
                concerns.push((concern.clone(), c));
                writes.push(ViewWrite::ConcernReported {
                    concern,
                    case: case.clone(),
                    reporter_org: org(ngos[next(2)]),
                    reported_to: org(municipalities[case_home[c]]),
                    reported_at: at,
                    assessment_due: at + chrono::Duration::hours(24),
                    receipt_due: (at + chrono::Duration::days(6)).date_naive(),
                });
                writes.push(ViewWrite::CaseVersion { case, version: case_version[c] });
            }
            6 if !concerns.is_empty() => {
                let (concern, _) = concerns[next(concerns.len())].clone();
                writes.push(ViewWrite::ConcernAcknowledged { concern, at });
            }
            7 | 6 => {
                volunteer_version[v] += 1;
                writes.push(ViewWrite::VolunteerRegistered {
                    volunteer,
                    ngo: org(ngos[v % 2]),
                    capacity: 1 + next(3) as u32,
                    version: volunteer_version[v],
                });
            }
            8 => {
                volunteer_version[v] += 1;
                writes.push(ViewWrite::VolunteerStatus {
                    volunteer,
                    status: statuses[next(3)],
                    version: volunteer_version[v],
                });
            }
            9 => {
                volunteer_version[v] += 1;
                let delta = if next(3) == 0 { -1 } else { 1 };
                writes.push(ViewWrite::VolunteerAssignments { volunteer, delta, version: volunteer_version[v] });
            }
            _ => {
                volunteer_version[v] += 1;
                writes.push(ViewWrite::VolunteerVersion { volunteer, version: volunteer_version[v] });
            }
        }
    }
    writes
}

/// Everything the list views hold, as every organisation of [`view_writes`] lists it.
async fn view_tables(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for org in ["municipality:0101", "municipality:0746", "municipality:0751", "ngo:kfum", "ngo:red-cross"] {
        let org: brobyg_domain::Org = org.parse().expect("org");
        let filter = brobyg::store::CaseFilter::default();
        let cases = store.case_summaries(&org, &filter, None, 10_000).await.expect("cases");
        out.extend(cases.iter().map(|c| format!("{org} {c:?}")));
        let concerns = store.concern_summaries(&org, false).await.expect("concerns");
        out.extend(concerns.iter().map(|c| format!("{org} {c:?}")));
        if !org.is_municipality() {
            let volunteers = store.volunteer_summaries(&org).await.expect("volunteers");
            out.extend(volunteers.iter().map(|v| format!("{org} {v:?}")));
        }
    }
    out
}

/// The view runner writes a page's changes as a few multi-row statements (rounds of writes to
/// distinct rows, each kind in statements of 256, 64, 16, 4 and 1 rows). Whatever the batch,
/// the tables must end as they do when every write is applied on its own, in order.
async fn batched_view_writes_leave_the_tables_as_writes_one_at_a_time_do(db: &TestDb) {
    let store = db.store().await;
    let writes = view_writes();
    let apply_in = |sizes: Vec<usize>| {
        let (store, writes) = (store.clone(), writes.clone());
        async move {
            store.reset_views().await.expect("reset");
            let (mut from, mut rest, mut position) = (None, writes.as_slice(), 0);
            for size in sizes.into_iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (batch, after) = rest.split_at(size.min(rest.len()));
                position += 1;
                let to = Cursor { tx: 0, position };
                assert!(store.apply_view_batch(batch.to_vec(), from, to).await.expect("apply"), "the claim holds");
                (from, rest) = (Some(to), after);
            }
            view_tables(&store).await
        }
    };
    let one_at_a_time = apply_in(vec![1]).await;
    // The writes did something of every kind: the comparison below is not of empty tables.
    let has = |needle: &str| one_at_a_time.iter().any(|row| row.contains(needle));
    for needle in [
        "state: \"in_course\"",
        "ngo: Some(\"ngo:red-cross\")",
        "acknowledged_at: Some(",
        "acknowledged_at: None",
        "status: \"paused\"",
        "assignments: 2",
    ] {
        assert!(has(needle), "the tables hold {needle}");
    }
    assert!(one_at_a_time.len() > 300, "{} rows", one_at_a_time.len());
    for sizes in [vec![100_000], vec![1_000], vec![333, 7, 64, 1, 250], vec![2, 17, 5]] {
        let batched = apply_in(sizes.clone()).await;
        if batched != one_at_a_time {
            let missing: Vec<_> = one_at_a_time.iter().filter(|r| !batched.contains(r)).take(5).collect();
            let extra: Vec<_> = batched.iter().filter(|r| !one_at_a_time.contains(r)).take(5).collect();
            panic!("batches of {sizes:?} left other tables: missing {missing:#?}, extra {extra:#?}");
        }
    }
    store.close().await;
}

/// A page of the feed is read in stretches at once: first where each stretch ends (every k-th
/// event and the last), then each stretch between two stops. Together they are the feed read
/// whole: the same events, once, in order, whatever k and wherever the count starts.
async fn the_feed_read_in_stretches_between_its_stops_is_the_feed_read_whole(db: &TestDb) {
    let store = db.store().await;
    let cases: Vec<String> = (0..3).map(|_| CaseId::new().to_string()).collect();
    for (n, case) in cases.iter().cycle().take(23).enumerate() {
        store.append::<Case>(case, n / 3, vec![item_event(n as u64)], HashMap::new()).await.expect("append");
    }
    let whole = whole_feed(&store).await;
    assert_eq!(whole.len(), 23);
    let key = |e: &brobyg::store::FeedEvent| (e.cursor, e.aggregate_id.clone(), e.sequence);

    for (from, count, every) in [(0, 1_000, 5), (0, 23, 23), (10, 7, 3), (0, 4, 1), (22, 1_000, 5), (0, 1, 250)] {
        let after = if from == 0 { Cursor::START } else { whole[from - 1].cursor };
        let stops = store.feed_stops(after, count, every).await.expect("stops");
        let counted = &whole[from..(from + count as usize).min(whole.len())];
        let mut expected: Vec<Cursor> =
            counted.iter().skip(every as usize - 1).step_by(every as usize).map(|e| e.cursor).collect();
        if let Some(last) = counted.last()
            && expected.last() != Some(&last.cursor)
        {
            expected.push(last.cursor);
        }
        assert_eq!(stops, expected, "stops after {from} counting {count} every {every}");

        let mut read = Vec::new();
        let mut at = after;
        for stop in stops {
            let stretch = store.read_feed_between(at, stop).await.expect("stretch");
            assert_eq!(stretch.events.last().map(|e| e.cursor), Some(stop), "a stretch ends at its stop");
            assert_eq!(stretch.next, stop);
            read.extend(stretch.events);
            at = stop;
        }
        let read_keys: Vec<_> = read.iter().map(|e| (e.cursor, e.aggregate_id.clone(), e.sequence)).collect();
        assert_eq!(read_keys, counted.iter().map(key).collect::<Vec<_>>());
        for (r, w) in read.iter().zip(counted) {
            let payload: serde_json::Value = serde_json::from_str(&r.payload).expect("JSON");
            assert_eq!((&r.event_type, &payload), (&w.event_type, &w.payload), "the stored event");
        }
    }
    let end = whole.last().expect("events").cursor;
    assert!(store.feed_stops(end, 1_000, 5).await.expect("stops").is_empty(), "nothing after the last event");
    assert!(store.read_feed_between(end, end).await.expect("empty").events.is_empty());
    store.close().await;
}

/// A batch of access-log entries goes to the database as one statement: every entry is kept,
/// each text exactly as given (quotes, backslashes, a NUL-free control character, non-ASCII,
/// JSON look-alikes), in the order given, and a batch of none writes nothing.
async fn the_access_log_keeps_every_entry_of_a_batch_exactly_and_in_order(db: &TestDb) {
    use brobyg::store::AccessEntry;
    let store = db.store().await;
    let case = CaseId::new().to_string();
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-06T07:00:00.123456Z").expect("time").to_utc();
    let odd =
        ["plain", "with \"quotes\" and \\ backslash", "tab\there", "Søren Ærø Åge", "[\"a\", 1]", "{\"$pii\": 1}"];
    let entries: Vec<AccessEntry> = (0..300)
        .map(|n| AccessEntry {
            case_id: case.clone(),
            reader_sub: format!("{} {n}", odd[n % odd.len()]),
            reader_org: "municipality:0746".into(),
            reader_role: "integrator".into(),
            purpose: odd[(n + 1) % odd.len()].into(),
            categories: "identity,school".into(),
            endpoint: "GET /v1/feed".into(),
            read_at: at + chrono::Duration::microseconds(n as i64),
        })
        .collect();
    store.append_access_log(&[]).await.expect("nothing");
    store.append_access_log(&entries[..1]).await.expect("one");
    store.append_access_log(&entries[1..]).await.expect("the rest");
    assert_eq!(store.access_log(&case).await.expect("log"), entries);
}

/// What a waiting feed reader asks between reads: nothing after the head; something after an
/// earlier cursor; and on PostgreSQL, while a transaction older than a write is open, the write
/// is committed but not yet visible — until that transaction ends.
async fn the_feeds_progress_tells_visible_from_committed_but_not_yet_visible(db: &TestDb) {
    use brobyg::store::FeedProgress;
    use sqlx::Connection;
    let store = db.store().await;
    let nothing = FeedProgress { visible: false, pending: false };
    let case = CaseId::new();
    let key = case.to_string();
    store.execute::<Case>(&key, open_case(case), None, HashMap::new(), |_| true).await.expect("open");
    let head = loop {
        // On PostgreSQL another test's open transaction can hold the event back a moment.
        let head = store.feed_head().await.expect("head");
        if head > Cursor::START {
            break head;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        store.feed_progress(Cursor::START).await.expect("progress"),
        FeedProgress { visible: true, pending: false }
    );
    assert_eq!(store.feed_progress(head).await.expect("progress"), nothing);
    if !db.url.starts_with("postgres") {
        return store.close().await;
    }
    let mut blocker = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::raw_sql("BEGIN; SELECT pg_current_xact_id();").execute(&mut blocker).await.expect("an open transaction");
    store
        .execute::<Case>(&key, add_item(ItemId::new(), Category::School), None, HashMap::new(), |_| true)
        .await
        .expect("add");
    assert_eq!(store.feed_progress(head).await.expect("progress"), FeedProgress { visible: false, pending: true });
    sqlx::raw_sql("COMMIT").execute(&mut blocker).await.expect("commit");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let progress = store.feed_progress(head).await.expect("progress");
        if progress.visible {
            assert!(!progress.pending, "{progress:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {progress:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    blocker.close().await.expect("close");
    store.close().await;
}
