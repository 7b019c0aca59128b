//! A real nginx on 127.0.0.1 for the feed tests: Debian's package, a config written into a
//! temporary directory, one process in the foreground (`daemon off; master_process off`),
//! killed when dropped.

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Where Debian installs nginx.
const NGINX: &str = "/usr/sbin/nginx";

/// A running nginx serving `root`.
pub struct Nginx {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The temporary directory of its config, pid and logs.
    conf_dir: PathBuf,
}

/// True when nginx is installed; prints why a test is skipped otherwise.
pub fn available() -> bool {
    if Path::new(NGINX).exists() {
        return true;
    }
    eprintln!("SKIPPED: {NGINX} is missing (apt-get install nginx-light)");
    false
}

/// A port that was free a moment ago.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The config: autoindex under `/bt-cd/`, `/feed*` answering 500 while a file `fail500`
/// exists in the root, a redirect from `/old/feed.rss` to `/t/feed.rss`, and a redirect loop.
fn config(conf_dir: &Path, root: &Path, port: u16) -> String {
    let d = conf_dir.display();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    types {{
        application/x-bittorrent torrent;
        application/rss+xml rss;
        application/atom+xml atom;
        text/html html;
        text/plain txt;
    }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location /bt-cd/ {{ autoindex on; }}
        location = /old/feed.rss {{ return 301 /t/feed.rss; }}
        location = /loop {{ return 302 /loop; }}
        location /feed {{
            if (-f $document_root/fail500) {{ return 500; }}
        }}
    }}
}}
"#,
        root = root.display()
    )
}

/// The body of `/.whoami` on `port`, if a server answers.
fn whoami(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /.whoami HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

impl Nginx {
    /// Starts nginx serving `root`, its config and logs in `conf_dir`.
    pub fn start(root: &Path, conf_dir: &Path) -> io::Result<Self> {
        let mut last_err = None;
        // The port may be taken between finding it and nginx binding it: try a few.
        for _ in 0..5 {
            let port = free_port()?;
            match Self::start_on(root, conf_dir, port) {
                Ok(n) => return Ok(n),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("nginx did not start")))
    }

    /// Starts nginx on `port`.
    pub fn start_on(root: &Path, conf_dir: &Path, port: u16) -> io::Result<Self> {
        let token = format!("{}-{port}-{:?}", std::process::id(), Instant::now());
        fs::write(root.join(".whoami"), &token)?;
        let conf = conf_dir.join("nginx.conf");
        fs::File::create(&conf)?.write_all(config(conf_dir, root, port).as_bytes())?;
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(conf_dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(conf_dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut n = Self {
            child: Some(child),
            port,
            conf_dir: conf_dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = n.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                n.child = None;
                let log = fs::read_to_string(conf_dir.join("error.log")).unwrap_or_default();
                return Err(io::Error::other(format!(
                    "nginx exited with {status}: {log}"
                )));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // Another test's server may hold the port (ours then fails to bind): make sure
                // the one answering serves our root.
                if whoami(port).as_deref() == Some(token.as_str()) {
                    return Ok(n);
                }
                if n.child
                    .as_mut()
                    .is_some_and(|c| c.try_wait().ok().flatten().is_some())
                {
                    n.child = None;
                    return Err(io::Error::other(format!("port {port} is taken")));
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::other("nginx did not listen within 10 s"));
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// The URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("http://127.0.0.1:{}{path}", self.port)).expect("url")
    }

    /// The status codes of the requests to `path` so far, from the access log.
    pub fn statuses(&self, path: &str) -> Vec<u16> {
        let log = fs::read_to_string(self.conf_dir.join("access.log")).unwrap_or_default();
        let needle = format!("\"GET {path} ");
        log.lines()
            .filter(|l| l.contains(&needle))
            .filter_map(|l| {
                let after = l.split('"').nth(2)?;
                after.split_whitespace().next()?.parse().ok()
            })
            .collect()
    }

    /// Stops it (as when the server goes down).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}
