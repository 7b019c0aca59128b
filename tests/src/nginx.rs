//! [`Nginx`]: a real nginx on 127.0.0.1 serving a directory with ranges and keep-alive, as
//! mirrors do (the web seed of a torrent): Debian's package, a config written into a temporary directory, one process in the
//! foreground, killed when dropped.

use std::fs;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Where Debian installs nginx.
const NGINX: &str = "/usr/sbin/nginx";

/// A running nginx.
pub struct Nginx {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    conf_dir: std::path::PathBuf,
}

/// True when nginx is installed; prints why a test is skipped otherwise.
pub fn available() -> bool {
    if Path::new(NGINX).exists() {
        return true;
    }
    eprintln!("SKIPPED: {NGINX} is missing (apt-get install nginx-light)");
    false
}

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
    default_type application/octet-stream;
    keepalive_requests 10000;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"#,
        root = root.display()
    )
}

impl Nginx {
    /// Starts nginx serving `root`, its config and logs in `conf_dir`.
    ///
    /// # Errors
    /// When nginx cannot be started.
    pub fn start(root: &Path, conf_dir: &Path) -> io::Result<Self> {
        let mut last = None;
        // The port may be taken between finding it and nginx binding it: try a few.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            match Self::start_on(root, conf_dir, port) {
                Ok(n) => return Ok(n),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("nginx did not start")))
    }

    fn start_on(root: &Path, conf_dir: &Path, port: u16) -> io::Result<Self> {
        let conf = conf_dir.join("nginx.conf");
        fs::write(&conf, config(conf_dir, root, port))?;
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
            child,
            port,
            conf_dir: conf_dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = n.child.try_wait() {
                let log = fs::read_to_string(conf_dir.join("error.log")).unwrap_or_default();
                return Err(io::Error::other(format!(
                    "nginx exited with {status}: {log}"
                )));
            }
            // The pid file appears once nginx has bound its port.
            if conf_dir.join("nginx.pid").exists()
                && TcpStream::connect(("127.0.0.1", port)).is_ok()
            {
                return Ok(n);
            }
            if Instant::now() > deadline {
                return Err(io::Error::other("nginx did not listen within 10 s"));
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Requests answered with 206 Partial Content so far (from the access log).
    pub fn partial_responses(&self) -> usize {
        fs::read_to_string(self.conf_dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\" 206 "))
            .count()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
