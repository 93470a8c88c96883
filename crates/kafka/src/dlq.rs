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

pub fn dead_letter<M: Message>(
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
    send(producer, record)
}

/// Enqueues a record, waiting briefly while the local queue is full.
pub fn send(producer: &Producer, mut record: FutureRecord<'_, [u8], [u8]>) -> Result<DeliveryFuture, KafkaError> {
    use rdkafka::{error::KafkaError as K, types::RDKafkaErrorCode};
    loop {
        match producer.send_result(record) {
            Ok(f) => return Ok(f),
            Err((K::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                // Rare: the local queue is full; give librdkafka a moment.
                std::thread::sleep(Duration::from_millis(5));
                record = r;
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
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
