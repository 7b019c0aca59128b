//! Reading a `.torrent` named on the command line: a path, a `file://` URL (what a browser hands
//! a MIME handler) or an `http(s)://` URL to fetch, capped at [`MAX_TORRENT_SIZE`].

use std::time::Duration;

use anyhow::{Context, bail};

use crate::units::format_bytes;

/// Largest .torrent fetched from a URL.
pub const MAX_TORRENT_SIZE: usize = 32 << 20;

/// The bytes of the .torrent `src` names.
pub async fn read_torrent(src: &str) -> anyhow::Result<Vec<u8>> {
    if src.starts_with("http://") || src.starts_with("https://") {
        return fetch(src).await;
    }
    let path = match src.strip_prefix("file://") {
        Some(rest) => {
            let rest = rest.strip_prefix("localhost").unwrap_or(rest);
            percent_encoding::percent_decode_str(rest)
                .decode_utf8_lossy()
                .into_owned()
        }
        None => src.to_owned(),
    };
    read_file(std::path::Path::new(&path))
}

/// Reads the `.torrent` at `path`, refusing one larger than [`MAX_TORRENT_SIZE`] before reading
/// it (a data file named by mistake, a 4 GiB ISO, is not loaded into memory).
pub fn read_file(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let too_big = |len: u64| {
        anyhow::anyhow!(
            "{} is {}: too big to be a .torrent (at most {}); is it the data file?",
            path.display(),
            format_bytes(len),
            format_bytes(MAX_TORRENT_SIZE as u64)
        )
    };
    if len > MAX_TORRENT_SIZE as u64 {
        return Err(too_big(len));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // A FIFO or a file that grows: never more than the cap (plus one byte to notice).
    file.take(MAX_TORRENT_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() > MAX_TORRENT_SIZE {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// GETs `url`, refusing a body larger than [`MAX_TORRENT_SIZE`].
async fn fetch(url: &str) -> anyhow::Result<Vec<u8>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .user_agent(engine::CLIENT_NAME)
        .build()
        .context("building the HTTP client")?;
    let mut resp = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("fetching {url}"))?;
    if !resp.status().is_success() {
        bail!("fetching {url}: HTTP {}", resp.status());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .with_context(|| format!("fetching {url}"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_TORRENT_SIZE {
            bail!(
                "fetching {url}: larger than {} — not a torrent",
                format_bytes(MAX_TORRENT_SIZE as u64)
            );
        }
    }
    Ok(body)
}
