//! The codec and handshake over an in-memory duplex pipe, as a peer task would use them:
//! handshake first, then `Framed` messages, with a pipe small enough to split every frame.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use metainfo::{InfoHash, PeerId};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{FramedRead, FramedWrite};
use wire::{
    BlockRequest, Codec, Error, ExtensionHandshake, Handshake, Message, read_handshake,
    read_handshake_head, read_peer_id, write_handshake,
};

fn block(i: u8) -> Bytes {
    Bytes::from((0..16384u32).map(|j| (j as u8) ^ i).collect::<Vec<_>>())
}

#[tokio::test]
async fn handshake_then_messages_through_a_small_pipe() {
    let (a, b) = tokio::io::duplex(1000);
    let (mut a_read, mut a_write) = tokio::io::split(a);
    let ours = Handshake::new(InfoHash([1; 20]), PeerId(*b"-BM0100-aaaaaaaaaaaa"));
    let theirs = Handshake::new(InfoHash([1; 20]), PeerId(*b"-XX0001-bbbbbbbbbbbb"));

    let listener = tokio::spawn(async move {
        let (mut b_read, mut b_write) = tokio::io::split(b);
        let (reserved, info_hash) = read_handshake_head(&mut b_read).await?;
        assert_eq!(info_hash, InfoHash([1; 20]));
        assert!(wire::supports_fast(&reserved) && wire::supports_extended(&reserved));
        write_handshake(&mut b_write, &theirs).await?;
        let peer_id = read_peer_id(&mut b_read).await?;
        let mut frames = FramedRead::new(b_read, Codec::default());
        let mut got = Vec::new();
        while let Some(msg) = frames.next().await {
            got.push(msg?);
        }
        Ok::<_, Error>((peer_id, got))
    });

    write_handshake(&mut a_write, &ours).await.unwrap();
    let answer = read_handshake(&mut a_read).await.unwrap();
    assert_eq!(answer, theirs);

    let ext = ExtensionHandshake {
        m: vec![("ut_metadata".into(), 1)],
        reqq: Some(250),
        ..Default::default()
    };
    let mut sent = vec![
        ext.to_message(),
        Message::HaveAll,
        Message::Unchoke,
        Message::Request(BlockRequest {
            index: 0,
            begin: 0,
            length: 16384,
        }),
    ];
    sent.extend((0..8).map(|i| Message::Piece {
        index: i,
        begin: 0,
        data: block(i as u8),
    }));
    sent.push(Message::KeepAlive);
    let mut frames = FramedWrite::new(a_write, Codec::default());
    for m in &sent {
        frames.feed(m).await.unwrap();
    }
    // Two Encoder impls: name the item type when it cannot be inferred.
    SinkExt::<&Message>::flush(&mut frames).await.unwrap();
    frames.into_inner().shutdown().await.unwrap();

    let (peer_id, got) = listener.await.unwrap().unwrap();
    assert_eq!(peer_id, ours.peer_id);
    assert_eq!(got, sent);
    let Message::Extended { id: 0, payload } = &got[0] else {
        panic!("{:?}", got[0])
    };
    assert_eq!(ExtensionHandshake::decode(payload).unwrap(), ext);
}

#[tokio::test]
async fn hostile_length_ends_the_stream_with_an_error() {
    let (mut a, b) = tokio::io::duplex(64);
    a.write_all(&[0, 0, 0, 1, 1, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    let mut frames = FramedRead::new(b, Codec::default());
    assert_eq!(frames.next().await.unwrap().unwrap(), Message::Unchoke);
    assert!(matches!(
        frames.next().await,
        Some(Err(Error::TooLong(u32::MAX)))
    ));
}

#[tokio::test]
async fn stream_ending_mid_frame_is_an_error() {
    let (mut a, b) = tokio::io::duplex(64);
    a.write_all(&[0, 0, 0, 13, 6, 0, 0]).await.unwrap();
    drop(a);
    let mut frames = FramedRead::new(b, Codec::default());
    assert!(matches!(frames.next().await, Some(Err(Error::Io(_)))));
}
