// WebTorrent (node) as a leecher for btmirror's end-to-end tests:
//   node leech.js TORRENT DIR [--secure]
// Downloads TORRENT into DIR from the peers its trackers list, with DHT, local peer discovery,
// UPnP and NAT-PMP off (nothing leaves the machine), then exits 0. `--secure` turns on
// WebTorrent's protocol encryption (MSE/PE, BEP 8 style) for its connections.
const fs = require('node:fs')
const WebTorrent = require('webtorrent')

const [torrentPath, dir, ...flags] = process.argv.slice(2)
if (!torrentPath || !dir) {
  console.error('usage: node leech.js TORRENT DIR [--secure]')
  process.exit(2)
}
const client = new WebTorrent({
  dht: false,
  lsd: false,
  natUpnp: false,
  natPmp: false,
  utPex: false,
  secure: flags.includes('--secure')
})
client.on('error', err => {
  console.error('client error:', err.message)
  process.exit(1)
})
client.add(fs.readFileSync(torrentPath), { path: dir }, torrent => {
  console.log(`added ${torrent.infoHash}`)
  torrent.on('wire', (wire, addr) => console.log(`wire ${addr} ${wire.type}`))
  torrent.on('warning', w => console.log(`warning ${w.message || w}`))
  torrent.on('done', () => {
    console.log(`done ${torrent.downloaded} bytes`)
    client.destroy(() => process.exit(0))
  })
})
