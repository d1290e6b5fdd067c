//! The stored form of metric points: the points of one metric of one run that arrived in one
//! write are packed into one row (a "chunk"), 24 bytes a point (step, timestamp in ms and value,
//! little-endian). Logging then costs one row per metric per write instead of one per point,
//! and reading a history reads a few rows instead of thousands.

/// One metric point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredPoint {
    pub step: i64,
    pub timestamp: i64,
    pub value: f64,
}

const POINT_BYTES: usize = 24;

/// Packs points into a chunk.
pub fn encode(points: &[StoredPoint]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(points.len() * POINT_BYTES);
    for point in points {
        bytes.extend_from_slice(&point.step.to_le_bytes());
        bytes.extend_from_slice(&point.timestamp.to_le_bytes());
        bytes.extend_from_slice(&point.value.to_le_bytes());
    }
    bytes
}

/// Unpacks a chunk, appending its points to `into`. A chunk whose length is not a whole number
/// of points is corrupt: the whole points are kept and `false` is returned.
pub fn decode(bytes: &[u8], into: &mut Vec<StoredPoint>) -> bool {
    let mut chunks = bytes.chunks_exact(POINT_BYTES);
    for point in chunks.by_ref() {
        let field = |range: std::ops::Range<usize>| {
            let mut buffer = [0u8; 8];
            buffer.copy_from_slice(&point[range]);
            buffer
        };
        into.push(StoredPoint {
            step: i64::from_le_bytes(field(0..8)),
            timestamp: i64::from_le_bytes(field(8..16)),
            value: f64::from_le_bytes(field(16..24)),
        });
    }
    chunks.remainder().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_points_and_flags_torn_chunks() {
        let points = vec![
            StoredPoint {
                step: -3,
                timestamp: 1_764_000_000_000,
                value: 0.125,
            },
            StoredPoint {
                step: i64::MAX,
                timestamp: 0,
                value: -1e300,
            },
        ];
        let bytes = encode(&points);
        assert_eq!(bytes.len(), 48);
        let mut decoded = Vec::new();
        assert!(decode(&bytes, &mut decoded));
        assert_eq!(decoded, points);
        let mut torn = Vec::new();
        assert!(!decode(&bytes[..30], &mut torn));
        assert_eq!(torn, points[..1]);
    }
}
