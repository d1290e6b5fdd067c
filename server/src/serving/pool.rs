//! The model pool: registered versions loaded once through the inference engine, warmed, and
//! each fronted by a micro-batcher that joins concurrent requests into one forward pass.

use super::source::{Source, VersionRef};
use crate::error::{ServiceError, ServiceResult};
use slipway_ml::inference::{Engine, Prediction};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How concurrent requests are batched.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    /// Most rows in one forward pass (1: every request runs alone).
    pub max_rows: usize,
    /// How long the first request of a batch waits for company.
    pub max_wait: Duration,
}

/// One request's rows waiting for a forward pass.
struct Pending {
    flat: Vec<f32>,
    rows: usize,
    reply: oneshot::Sender<Result<Vec<Prediction>, String>>,
}

/// A loaded version, ready to answer.
#[derive(Debug)]
pub struct Served {
    pub version: u32,
    pub engine: Arc<Engine>,
    queue: mpsc::Sender<Pending>,
    /// Requests between entering `predict` and getting their answer; the batcher waits for
    /// company only while some are on their way, so a lone request never waits.
    in_flight: Arc<AtomicUsize>,
}

/// Counts a request in flight until dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Served {
    /// Predicts rows encoded by this version's engine, batched with concurrent requests.
    pub async fn predict(&self, flat: Vec<f32>, rows: usize) -> ServiceResult<Vec<Prediction>> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let _counted = InFlight(Arc::clone(&self.in_flight));
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { flat, rows, reply })
            .await
            .map_err(|_| ServiceError::Unavailable("the model is being unloaded".into()))?;
        answer
            .await
            .map_err(|_| ServiceError::Unavailable("the model is being unloaded".into()))?
            .map_err(ServiceError::internal)
    }
}

/// Versions loaded by this server, by their row id.
#[derive(Debug, Clone)]
pub struct ModelPool {
    source: Source,
    policy: BatchPolicy,
    loaded: Arc<Mutex<HashMap<String, Arc<Served>>>>,
}

impl ModelPool {
    pub fn new(source: Source, policy: BatchPolicy) -> Self {
        Self {
            source,
            policy,
            loaded: Arc::default(),
        }
    }

    /// The loaded version, loading and warming it first if needed.
    pub async fn get(&self, row: &VersionRef) -> ServiceResult<Arc<Served>> {
        let key = row.key();
        if let Some(served) = self.cached(&key) {
            return Ok(served);
        }
        let (manifest, weights) = self.source.files(row).await?;
        let engine = tokio::task::spawn_blocking(move || {
            let engine = Engine::load(&manifest, &weights)?;
            // A first pass allocates what later ones reuse, so the first request is not slow.
            // It reads the standardised mean row (all zeros), which fits every model, also one
            // whose preprocessing makes more inputs than it has columns.
            engine.predict_encoded(vec![0.0; engine.input_width()], 1)?;
            Ok::<_, slipway_ml::inference::InferenceError>(engine)
        })
        .await
        .map_err(|err| ServiceError::internal(format!("model loading stopped: {err}")))?
        .map_err(|err| ServiceError::internal(format!("version {}: {err}", row.version)))?;
        let engine = Arc::new(engine);
        let (queue, pending) = mpsc::channel(4096);
        let in_flight = Arc::new(AtomicUsize::new(0));
        tokio::spawn(run_batches(
            Arc::clone(&engine),
            pending,
            self.policy,
            Arc::clone(&in_flight),
        ));
        let served = Arc::new(Served {
            version: row.version,
            engine,
            queue,
            in_flight,
        });
        let mut loaded = self.lock();
        Ok(Arc::clone(loaded.entry(key).or_insert(served)))
    }

    fn cached(&self, key: &str) -> Option<Arc<Served>> {
        self.lock().get(key).cloned()
    }

    /// Unloads every version not in `keep`; requests holding one finish first.
    pub fn retain(&self, keep: &[String]) {
        self.lock().retain(|key, _| keep.contains(key));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Served>>> {
        // The map stays consistent even if a holder panicked: entries are whole values.
        self.loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Takes requests off the queue, joins those already queued, and those that arrive within the
/// wait while more are in flight, into one forward pass on a blocking thread, and answers each
/// with its share.
async fn run_batches(
    engine: Arc<Engine>,
    mut pending: mpsc::Receiver<Pending>,
    policy: BatchPolicy,
    in_flight: Arc<AtomicUsize>,
) {
    while let Some(first) = pending.recv().await {
        let mut batch = vec![first];
        let mut rows = batch[0].rows;
        if policy.max_rows > 1 && rows < policy.max_rows {
            let deadline = tokio::time::Instant::now() + policy.max_wait;
            while rows < policy.max_rows {
                // Whatever is already queued joins at once; then wait for more until the
                // deadline.
                let next = match pending.try_recv() {
                    Ok(next) => Some(next),
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                    Err(mpsc::error::TryRecvError::Empty)
                        if in_flight.load(Ordering::Relaxed) <= batch.len() =>
                    {
                        None
                    }
                    Err(mpsc::error::TryRecvError::Empty) => {
                        // A timeout means the batch is complete.
                        tokio::time::timeout_at(deadline, pending.recv())
                            .await
                            .ok()
                            .flatten()
                    }
                };
                let Some(next) = next else { break };
                rows += next.rows;
                batch.push(next);
            }
        }
        let engine = Arc::clone(&engine);
        // The first request's input is the batch's buffer: a batch of one copies nothing.
        let mut flat = std::mem::take(&mut batch[0].flat);
        for pending in &batch[1..] {
            flat.extend_from_slice(&pending.flat);
        }
        let result = tokio::task::spawn_blocking(move || engine.predict_encoded(flat, rows)).await;
        match result {
            Ok(Ok(mut predictions)) => {
                for item in batch.into_iter().rev() {
                    let tail = predictions.split_off(predictions.len() - item.rows);
                    let _ = item.reply.send(Ok(tail));
                }
            }
            Ok(Err(err)) => answer_all(batch, &err.to_string()),
            Err(err) => answer_all(batch, &format!("prediction stopped: {err}")),
        }
    }
}

fn answer_all(batch: Vec<Pending>, message: &str) {
    for item in batch {
        let _ = item.reply.send(Err(message.to_owned()));
    }
}

#[cfg(test)]
mod tests;
