//! Torrent metadata: parsing and validating `.torrent` files (BEP 3, 12, 19, 27, 47, and enough of
//! BEP 52: v2 and hybrid torrents), creating them,
//! and the small value types every other crate shares (`InfoHash`, `PeerId`, `Bitfield`, piece
//! arithmetic).
//!
//! Depends only on `bencode`. Must not know about sockets, disks or tasks.
//!
//! **Security invariant:** every path a `Metainfo` hands out has been checked: no `..`, no
//! absolute path, no empty component, no NUL or `/` inside a component. A hostile torrent can
//! never make anyone write outside its data directory. Odd names are sanitised the way libtorrent
//! does it and duplicates renamed (`file.1.txt`); every such change is listed in
//! [`Metainfo::notes`].

mod bitfield;
mod create;
mod error;
mod hashes;
pub mod magnet;
pub mod merkle;
mod parse;
mod types;

pub use bitfield::Bitfield;
pub use create::{CreateOptions, Version, create_torrent};
pub use error::Error;
pub use hashes::{HashLoader, InfoBytes, InfoBytesLoader, PieceHashes};
pub use parse::torrent_from_metadata;
pub use types::{
    FileAttrs, FileEntry, Info, InfoHash, InfoHashV2, Metainfo, PeerId, Symlink, V2File, V2Hashes,
};

/// Size of a block: the unit of a request on the wire (BEP 3 recommends 16 KiB, every client uses it).
pub const BLOCK_SIZE: u32 = 16 * 1024;
