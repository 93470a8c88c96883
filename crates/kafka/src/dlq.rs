//! The dead-letter topic: a record nobody can decode is moved aside with its
//! provenance (topic, partition, offset, error) so its partition moves on.
use std::time::Duration;

use ledger_protocol::header;
use rdkafka::{Message, producer::FutureRecord};

use crate::{
    KafkaError,
    codec::owned_headers,
    producer::{DeliveryFuture, Producer},
};

/// At most `max` bytes of `text`, cut at a character boundary (a decode
/// error may quote non-ASCII input).
fn clip(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

pub async fn dead_letter<M: Message>(
    producer: &Producer,
    dlq_topic: &str,
    message: &M,
    error: &str,
) -> Result<DeliveryFuture, KafkaError> {
    let error = clip(error, 1000).to_owned();
    let headers = owned_headers(&[
        (header::DLQ_TOPIC, message.topic().to_owned()),
        (header::DLQ_PARTITION, message.partition().to_string()),
        (header::DLQ_OFFSET, message.offset().to_string()),
        (header::DLQ_ERROR, error),
    ]);
    let key = message.key().unwrap_or_default();
    let payload = message.payload().unwrap_or_default();
    let record = FutureRecord::to(dlq_topic).key(key).payload(payload).headers(headers);
    send(producer, record).await
}

/// How long an append, a forward or a dead letter waits for room in
/// librdkafka's local queue before its partition gives up (and restarts).
pub const QUEUE_WAIT: Duration = Duration::from_secs(30);

/// Enqueues a record, waiting (without blocking a runtime thread) while the
/// local queue is full, for at most `QUEUE_WAIT`.
pub async fn send(producer: &Producer, record: FutureRecord<'_, [u8], [u8]>) -> Result<DeliveryFuture, KafkaError> {
    Ok(producer.enqueue(record, QUEUE_WAIT).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_error_is_clipped_at_a_character_boundary() {
        let text = format!("{}é and more", "x".repeat(999));
        assert_eq!(clip(&text, 1000), "x".repeat(999));
        assert_eq!(clip("short", 1000), "short");
    }
}
