//! Which partition owns a tenant. Commands are keyed by tenant id and the
//! owner is the partition the Java client's default partitioner picks for
//! that key: `toPositive(murmur2(key)) % partitions`, which librdkafka's
//! `murmur2_random` matches. Clients using another partitioner (librdkafka's
//! default CRC32 `consistent_random`, Go, .NET, kcat) land elsewhere; the
//! handler of the partition they land on forwards such commands to the owner
//! (see `Step::Forward`), so no client has to know this rule.

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition that owns a key among `partitions` (> 0).
pub fn owner_of_key(key: &[u8], partitions: i32) -> i32 {
    let positive = murmur2(key) & 0x7fff_ffff;
    positive % partitions.max(1)
}

/// Where a tenant's commands and events live.
pub fn owner(tenant_id: &ledger_domain::TenantId, partitions: i32) -> i32 {
    owner_of_key(tenant_id.to_string().as_bytes(), partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_clients_test_vectors() {
        // From Apache Kafka's UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            (b"abc", 479_470_107),
        ];
        for (data, expected) in cases {
            assert_eq!(murmur2(data), expected, "{}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn the_owner_is_always_a_partition() {
        for i in 0..1000 {
            let p = owner_of_key(format!("tenant-{i}").as_bytes(), 7);
            assert!((0..7).contains(&p));
        }
        assert_eq!(owner_of_key(b"anything", 1), 0);
    }
}
