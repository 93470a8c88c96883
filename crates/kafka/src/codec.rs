//! Moving protocol records in and out of rdkafka's message types.
use ledger_protocol::{Encoded, LogRecord, record::DecodeError};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};

pub fn owned_headers(headers: &[(&str, String)]) -> OwnedHeaders {
    headers.iter().fold(OwnedHeaders::new_with_capacity(headers.len()), |h, (k, v)| {
        h.insert(Header { key: k, value: Some(v.as_bytes()) })
    })
}

pub fn headers_of<M: Message>(m: &M) -> Vec<(String, Vec<u8>)> {
    m.headers()
        .map(|h| h.iter().map(|x| (x.key.to_owned(), x.value.map(<[u8]>::to_vec).unwrap_or_default())).collect())
        .unwrap_or_default()
}

pub fn decode_record<M: Message>(m: &M) -> Result<LogRecord, DecodeError> {
    LogRecord::decode(&headers_of(m), m.payload().unwrap_or_default())
}

pub fn encoded_headers(e: &Encoded) -> OwnedHeaders {
    owned_headers(&e.headers)
}
