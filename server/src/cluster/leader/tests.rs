//! Leader election on whichever backend the tests run (see `db::testing`): one winner among
//! replicas racing for a role, renewal by the holder, takeover after the holder stops.

use super::{Leadership, MAINTENANCE};
use crate::db::{connect, testing};
use crate::entity::cluster::leader;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

#[tokio::test]
async fn one_replica_wins_renews_and_is_replaced_once_its_term_expires() {
    let dir = tempfile::tempdir().unwrap();
    let db = connect(&testing::url(dir.path()).await).await.unwrap();
    let replicas: Vec<Leadership> = (0..4)
        .map(|n| Leadership::new(db.clone(), MAINTENANCE, format!("replica-{n}")))
        .collect();

    // They race for the (not yet existing) row: exactly one wins.
    let results =
        futures_util::future::join_all(replicas.iter().map(Leadership::try_acquire)).await;
    let winners: Vec<usize> = results
        .into_iter()
        .enumerate()
        .filter_map(|(n, won)| won.unwrap().then_some(n))
        .collect();
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let first = winners[0];
    assert!(replicas[first].is_leader());

    // The holder renews; the others still lose while its term runs.
    for _ in 0..2 {
        for (n, replica) in replicas.iter().enumerate() {
            assert_eq!(replica.try_acquire().await.unwrap(), n == first);
        }
    }

    // The holder dies: its term runs out (set in the past, as waiting would do).
    leader::Entity::update_many()
        .col_expr(leader::Column::ExpiresAt, Expr::val(1_i64))
        .filter(leader::Column::Role.eq(MAINTENANCE))
        .exec(&db)
        .await
        .unwrap();
    let others: Vec<&Leadership> = replicas
        .iter()
        .enumerate()
        .filter(|(n, _)| *n != first)
        .map(|(_, replica)| replica)
        .collect();
    let results = futures_util::future::join_all(others.iter().map(|r| r.try_acquire())).await;
    let successors = results
        .into_iter()
        .filter(|won| *won.as_ref().unwrap())
        .count();
    assert_eq!(successors, 1);

    // The old holder, back, finds the role taken and stops acting at once.
    assert!(!replicas[first].try_acquire().await.unwrap());
    assert!(!replicas[first].is_leader());
}

#[tokio::test]
async fn a_released_role_is_taken_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = connect(&testing::url(dir.path()).await).await.unwrap();
    let a = Leadership::new(db.clone(), MAINTENANCE, "a".to_owned());
    let b = Leadership::new(db.clone(), MAINTENANCE, "b".to_owned());
    assert!(a.try_acquire().await.unwrap());
    assert!(!b.try_acquire().await.unwrap());
    a.release().await.unwrap();
    assert!(!a.is_leader());
    assert!(b.try_acquire().await.unwrap());
    assert!(b.is_leader());
}
