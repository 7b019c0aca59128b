//! Pure arithmetic mapping a byte range of the torrent (its files and the BEP 47 pad files
//! between them) onto per-file segments. No I/O.
//!
//! Pad files are not in `Info::files`: they are the gaps between one file's end and the next
//! file's offset, or after the last file. No segment covers a gap; its bytes are zeros that are
//! never read from or written to disk.

use metainfo::{FileEntry, Info};

/// A contiguous part of one file that a torrent byte range covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Index into `Info::files`.
    pub file_index: usize,
    /// Offset of the segment's first byte inside that file.
    pub file_offset: u64,
    /// Length of the segment in bytes (never zero).
    pub len: u64,
    /// Offset of the segment's first byte in the torrent's byte stream.
    pub offset: u64,
}

/// The file segments covering `len` bytes at torrent offset `offset`, in order.
///
/// Zero-length files and pad-file gaps are skipped (a caller places each segment by its
/// `offset`). Finds the first file by binary search. When the range runs past the end of the
/// files the segments simply stop there.
pub fn segments(info: &Info, offset: u64, len: u64) -> impl Iterator<Item = Segment> + '_ {
    let files = info.files.as_slice();
    // The first file that ends after `offset`; file ends are nondecreasing in a valid torrent.
    let index = files.partition_point(|f| f.offset.saturating_add(f.length) <= offset);
    Segments {
        files,
        index,
        pos: offset,
        remaining: len,
    }
}

/// Indices of the zero-length files whose offset lies in `start..=end` (they "belong" to the
/// pieces touching that offset, so writing those pieces creates them).
pub(crate) fn empty_files_between(
    info: &Info,
    start: u64,
    end: u64,
) -> impl Iterator<Item = usize> + '_ {
    let files = info.files.as_slice();
    let first = files.partition_point(|f| f.offset < start);
    files
        .iter()
        .enumerate()
        .skip(first)
        .take_while(move |(_, f)| f.offset <= end)
        .filter(|(_, f)| f.length == 0)
        .map(|(i, _)| i)
}

/// Iterator behind [`segments`].
struct Segments<'a> {
    /// All files of the torrent.
    files: &'a [FileEntry],
    /// The next file to look at.
    index: usize,
    /// Torrent offset of the next byte to map.
    pos: u64,
    /// Bytes still to map.
    remaining: u64,
}

impl Iterator for Segments<'_> {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        while self.remaining > 0 {
            let file_index = self.index;
            let file = self.files.get(file_index)?;
            self.index += 1;
            let end = file.offset.saturating_add(file.length);
            if file.length == 0 || end <= self.pos {
                continue;
            }
            if file.offset > self.pos {
                // A pad-file gap before this file.
                let gap = file.offset - self.pos;
                if gap >= self.remaining {
                    self.remaining = 0;
                    return None;
                }
                self.pos = file.offset;
                self.remaining -= gap;
            }
            let file_offset = self.pos - file.offset;
            let len = self.remaining.min(end - self.pos);
            let offset = self.pos;
            self.pos += len;
            self.remaining -= len;
            return Some(Segment {
                file_index,
                file_offset,
                len,
                offset,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Info with files of the given lengths (offsets computed) and no piece hashes needed.
    fn info(piece_length: u32, lengths: &[u64]) -> Info {
        let mut offset = 0;
        let files = lengths
            .iter()
            .enumerate()
            .map(|(i, &length)| {
                let f = FileEntry {
                    path: format!("t/f{i}").into(),
                    length,
                    offset,
                };
                offset += length;
                f
            })
            .collect();
        let pieces = offset.div_ceil(u64::from(piece_length)) as usize;
        Info {
            name: "t".into(),
            piece_length,
            pieces: vec![[0; 20]; pieces].into(),
            files,
            multi_file: true,
            private: false,
            total_length: offset,
            v2: None,
        }
    }

    fn segs(info: &Info, offset: u64, len: u64) -> Vec<(usize, u64, u64)> {
        segments(info, offset, len)
            .map(|s| (s.file_index, s.file_offset, s.len))
            .collect()
    }

    fn piece_segs(info: &Info, piece: u32) -> Vec<(usize, u64, u64)> {
        segs(
            info,
            info.piece_offset(piece),
            u64::from(info.piece_len(piece)),
        )
    }

    #[test]
    fn single_file() {
        let i = info(16, &[40]);
        assert_eq!(piece_segs(&i, 0), vec![(0, 0, 16)]);
        assert_eq!(piece_segs(&i, 1), vec![(0, 16, 16)]);
        assert_eq!(piece_segs(&i, 2), vec![(0, 32, 8)]); // short last piece
        assert_eq!(i.piece_len(3), 0);
        assert_eq!(piece_segs(&i, 3), vec![]);
    }

    #[test]
    fn piece_crossing_several_files_with_empty_ones() {
        // files: 5, 0, 3, 0, 0, 20, 1, 0  => offsets 0,5,5,8,8,8,28,29 ; total 29
        let i = info(16, &[5, 0, 3, 0, 0, 20, 1, 0]);
        assert_eq!(i.total_length, 29);
        assert_eq!(piece_segs(&i, 0), vec![(0, 0, 5), (2, 0, 3), (5, 0, 8)]);
        assert_eq!(piece_segs(&i, 1), vec![(5, 8, 12), (6, 0, 1)]);
        // A block inside piece 1 that starts exactly on a file boundary.
        assert_eq!(segs(&i, 28, 1), vec![(6, 0, 1)]);
        // A range starting exactly where empty files sit.
        assert_eq!(segs(&i, 5, 4), vec![(2, 0, 3), (5, 0, 1)]);
        assert_eq!(segs(&i, 8, 2), vec![(5, 0, 2)]);
    }

    #[test]
    fn every_byte_maps_to_exactly_one_place() {
        let lengths = [7, 0, 1, 33, 0, 16, 15, 2, 0, 64, 3];
        let i = info(16, &lengths);
        // Expected owner of every byte, built naively.
        let mut owner = Vec::new();
        for (fi, &len) in lengths.iter().enumerate() {
            for off in 0..len {
                owner.push((fi, off));
            }
        }
        for p in 0..i.piece_count() {
            let mut pos = i.piece_offset(p) as usize;
            for (fi, fo, len) in piece_segs(&i, p) {
                assert!(len > 0);
                for k in 0..len {
                    assert_eq!(owner[pos], (fi, fo + k), "piece {p} byte {pos}");
                    pos += 1;
                }
            }
            assert_eq!(pos as u64, i.piece_offset(p) + u64::from(i.piece_len(p)));
        }
        // Arbitrary sub-ranges too.
        for start in 0..i.total_length {
            for len in [1, 2, 17, 40] {
                let len = len.min(i.total_length - start);
                let mut pos = start as usize;
                for (fi, fo, l) in segs(&i, start, len) {
                    assert_eq!(owner[pos], (fi, fo));
                    pos += l as usize;
                }
                assert_eq!(pos as u64, start + len);
            }
        }
    }

    #[test]
    fn pad_file_gaps_are_skipped() {
        // f0 0..5, pad 5..16, f1 16..20, pad 20..32, f2 32..33, trailing pad 33..48
        let mut i = info(16, &[5, 4, 1]);
        i.files[1].offset = 16;
        i.files[2].offset = 32;
        i.total_length = 48;
        i.pieces = vec![[0; 20]; 3].into();
        assert_eq!(piece_segs(&i, 0), vec![(0, 0, 5)]);
        assert_eq!(piece_segs(&i, 1), vec![(1, 0, 4)]);
        assert_eq!(piece_segs(&i, 2), vec![(2, 0, 1)]);
        let placed: Vec<u64> = segments(&i, 3, 40).map(|s| s.offset).collect();
        assert_eq!(placed, vec![3, 16, 32]);
        // A range entirely inside a gap maps to nothing.
        assert_eq!(segs(&i, 6, 10), vec![]);
        assert_eq!(segs(&i, 20, 12), vec![]);
        assert_eq!(segs(&i, 40, 8), vec![]);
        assert_eq!(segs(&i, 18, 16), vec![(1, 2, 2), (2, 0, 1)]);
    }

    #[test]
    fn range_past_the_end_is_cut_short() {
        let i = info(16, &[10, 5]);
        assert_eq!(segs(&i, 8, 100), vec![(0, 8, 2), (1, 0, 5)]);
        assert_eq!(segs(&i, 15, 1), vec![]);
        assert_eq!(segs(&i, u64::MAX, u64::MAX), vec![]);
    }

    #[test]
    fn only_empty_files_and_no_files() {
        let i = info(16, &[0, 0]);
        assert_eq!(segs(&i, 0, 1), vec![]);
        let i = info(16, &[]);
        assert_eq!(segs(&i, 0, 1), vec![]);
    }

    #[test]
    fn large_offsets_do_not_overflow() {
        let big = 1u64 << 40;
        let i = info(1 << 22, &[big, 3, big]);
        assert_eq!(
            segs(&i, big - 1, 5),
            vec![(0, big - 1, 1), (1, 0, 3), (2, 0, 1)]
        );
    }

    #[test]
    fn empty_files_between_finds_boundary_files() {
        // offsets: f0 0..5, f1 (empty) at 5, f2 5..8, f3 (empty) at 8, f4 8..28, f5 (empty) at 28
        let i = info(16, &[5, 0, 3, 0, 20, 0]);
        assert_eq!(
            empty_files_between(&i, 0, 16).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(empty_files_between(&i, 16, 28).collect::<Vec<_>>(), vec![5]);
        assert_eq!(empty_files_between(&i, 6, 7).count(), 0);
        let leading = info(16, &[0, 4]);
        assert_eq!(
            empty_files_between(&leading, 0, 4).collect::<Vec<_>>(),
            vec![0]
        );
    }
}
