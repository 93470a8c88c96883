//! The process's Kafka producer: librdkafka's, with a future for every
//! record's delivery, served by one thread that sleeps in librdkafka until
//! there is a delivery report to hand over.
//!
//! Why not rdkafka's `FutureProducer`: its thread polls in rounds of 100 ms,
//! and rdkafka 0.39 turns what is left of each round below a millisecond into
//! `poll(0)` calls, so the thread spins through the last millisecond of every
//! round: ~1% of a core per process while nothing happens (seen with perf in
//! an idle `contact-ledger dev`). Here a round lasts a second (the spin, if
//! any, is a thousandth of the time), and a report wakes the thread at once
//! whatever the round.
use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use futures::channel::oneshot;
use rdkafka::{
    ClientConfig, ClientContext, Message,
    client::Client,
    config::FromClientConfigAndContext,
    error::{KafkaError, KafkaResult},
    message::ToBytes,
    producer::{
        BaseProducer, BaseRecord, DeliveryResult, FutureRecord, Producer as _, ProducerContext,
        future_producer::{Delivery, OwnedDeliveryResult},
    },
    types::RDKafkaErrorCode,
};

/// A record's delivery: the partition and offset it was written at, or why
/// not; `Err(Canceled)` only if the producer ended first.
pub type DeliveryFuture = oneshot::Receiver<OwnedDeliveryResult>;

/// How long one poll of the delivery reports lasts (a report ends it at once).
const ROUND: Duration = Duration::from_secs(1);

/// Hands each delivery report to the future of its record.
pub struct Deliveries;

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<oneshot::Sender<OwnedDeliveryResult>>;

    fn delivery(&self, result: &DeliveryResult<'_>, to: Self::DeliveryOpaque) {
        let owned = match result {
            Ok(m) => Ok(Delivery { partition: m.partition(), offset: m.offset(), timestamp: m.timestamp() }),
            Err((e, m)) => Err((e.clone(), m.detach())),
        };
        // The record's future may have been dropped: nobody waits for it.
        let _ = to.send(owned);
    }
}

/// Cheap to clone: every clone is the same librdkafka producer.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<BaseProducer<Deliveries>>,
}

impl Producer {
    /// A producer of `config` and its polling thread, which ends within a
    /// round of the last clone's drop.
    pub fn new(config: &ClientConfig) -> KafkaResult<Producer> {
        let inner = Arc::new(BaseProducer::from_config_and_context(config, Deliveries)?);
        let polled: Weak<BaseProducer<Deliveries>> = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("cl-deliveries".into())
            .spawn(move || {
                while let Some(producer) = polled.upgrade() {
                    producer.poll(ROUND);
                }
            })
            .map_err(|e| KafkaError::ClientCreation(format!("the producer's polling thread: {e}")))?;
        Ok(Producer { inner })
    }

    /// Queues `record`, or gives it back with the reason (the local queue
    /// is full, say).
    #[allow(clippy::result_large_err)]
    pub fn send_result<'a, K, P>(
        &self,
        record: FutureRecord<'a, K, P>,
    ) -> Result<DeliveryFuture, (KafkaError, FutureRecord<'a, K, P>)>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let (to, delivered) = oneshot::channel();
        let base = BaseRecord {
            topic: record.topic,
            partition: record.partition,
            payload: record.payload,
            key: record.key,
            timestamp: record.timestamp,
            headers: record.headers,
            delivery_opaque: Box::new(to),
        };
        self.inner.send(base).map(|()| delivered).map_err(|(e, base)| {
            let record = FutureRecord {
                topic: base.topic,
                partition: base.partition,
                payload: base.payload,
                key: base.key,
                timestamp: base.timestamp,
                headers: base.headers,
            };
            (e, record)
        })
    }

    /// Queues `record`, waiting (without blocking a thread) while the local
    /// queue is full for up to `queue_timeout`, then giving up with
    /// `QueueFull`. The future resolves when the record is delivered.
    pub async fn enqueue<K, P>(
        &self,
        mut record: FutureRecord<'_, K, P>,
        queue_timeout: Duration,
    ) -> KafkaResult<DeliveryFuture>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let started = Instant::now();
        loop {
            match self.send_result(record) {
                Ok(delivered) => return Ok(delivered),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                    if started.elapsed() < queue_timeout =>
                {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Queues `record` (as `enqueue`) and waits for its delivery.
    pub async fn send<K, P>(&self, record: FutureRecord<'_, K, P>, queue_timeout: Duration) -> KafkaResult<Delivery>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let delivered = self.enqueue(record, queue_timeout).await?;
        match delivered.await {
            Ok(Ok(delivery)) => Ok(delivery),
            Ok(Err((e, _))) => Err(e),
            Err(_) => Err(KafkaError::Canceled),
        }
    }

    /// The librdkafka client, for metadata and watermark queries (blocking:
    /// call them off the async threads).
    pub fn client(&self) -> &Client<Deliveries> {
        self.inner.client()
    }
}
