//! `.torrent` parsing never panics, and every accepted torrent is internally consistent:
//! safe paths, piece count matching the total length, file offsets adding up.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = metainfo::Metainfo::from_bytes(data) else { return };
    let info = &m.info;
    let total: u64 = info.files.iter().map(|f| f.length).sum();
    assert_eq!(total, info.total_length);
    assert_eq!(u64::from(info.piece_count()), total.div_ceil(u64::from(info.piece_length)));
    let mut offset = 0;
    for f in &info.files {
        assert_eq!(f.offset, offset);
        offset += f.length;
        assert!(f.path.is_relative());
        for c in f.path.components() {
            assert!(matches!(c, std::path::Component::Normal(_)), "unsafe path {:?}", f.path);
        }
    }
});
