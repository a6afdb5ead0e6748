//! The HTML diagram in a real browser: headless Chromium renders the page
//! of an illegal trace and takes a screenshot, and the screenshot has each
//! column's box and the violation's highlight where the SVG puts them.
//!
//! Needs Debian's `chromium` (`.ci/run` installs it; `CALLORDER_CHROMIUM`
//! names another binary). Under `CI=true` a missing browser fails the
//! test; elsewhere the test is skipped, and says so on stderr.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use callorder_cli::diagram::svg::{self, COLUMN_FILL, LAYOUT, VIOLATION_FILL};
use callorder_cli::diagram::{Diagram, Options};

const ILLEGAL: &str =
    "fixtures/twisted/illegal/client_echo_client_closes__data_received_after_connection_lost.jsonl";

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CALLORDER_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// The numeric attribute `name` of an SVG element's text.
fn attr(element: &str, name: &str) -> u32 {
    let start = element
        .find(&format!(" {name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {element}"))
        + name.len()
        + 3;
    let end = start + element[start..].find('"').unwrap();
    element[start..end].parse().unwrap()
}

/// The `rect` elements of `class` in the SVG, as (x, y, width, height).
fn rects(svg: &str, class: &str) -> Vec<(u32, u32, u32, u32)> {
    svg.split("<rect")
        .skip(1)
        .map(|r| &r[..r.find("/>").unwrap()])
        .filter(|r| r.contains(&format!("class=\"{class}\"")))
        .map(|r| {
            (
                attr(r, "x"),
                attr(r, "y"),
                attr(r, "width"),
                attr(r, "height"),
            )
        })
        .collect()
}

fn hex(colour: &str) -> [u8; 3] {
    let c = |i: usize| u8::from_str_radix(&colour[i..i + 2], 16).unwrap();
    [c(1), c(3), c(5)]
}

struct Screenshot {
    width: u32,
    pixels: Vec<u8>,
}

impl Screenshot {
    fn read(path: &Path) -> Screenshot {
        let decoder = png::Decoder::new(fs::File::open(path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = info.color_type.samples();
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        let pixels = buf[..info.buffer_size()]
            .chunks(channels)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        Screenshot {
            width: info.width,
            pixels,
        }
    }

    fn at(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    fn is_near(&self, x: u32, y: u32, want: [u8; 3]) -> bool {
        let got = self.at(x, y);
        got.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 6)
    }
}

#[test]
fn the_html_diagram_renders_with_columns_and_violation_where_the_svg_says() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and no headless browser: install Debian's chromium (.ci/run does)"
        );
        eprintln!(
            "skipped: no chromium found (apt-get install chromium, or set CALLORDER_CHROMIUM)"
        );
        return;
    };
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let trace = fs::read_to_string(repo.join(ILLEGAL)).unwrap();
    let diagram = Diagram::new(ILLEGAL, &trace, &Options::default());
    let page = svg::html(&diagram);
    let svg_text = svg::svg(&diagram);

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("diagram-browser");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let html = dir.join("diagram.html");
    fs::write(&html, &page).unwrap();
    let shot = dir.join("shot.png");
    let (width, height) = LAYOUT.size(
        diagram.columns.len(),
        diagram.rows.len(),
        1 + diagram.notes.len(),
    );

    let mut child = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", browser.display()));
    // A browser that hangs must not hang the test suite.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not finish its screenshot in 120 s",
                browser.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "{} exited with {status}",
        browser.display()
    );

    let image = Screenshot::read(&shot);
    assert_eq!(image.width, width);

    // Not blank: white background, and ink of several colours.
    let mut colours: Vec<[u8; 3]> = image.pixels.chunks(3).map(|p| [p[0], p[1], p[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 8,
        "a blank screenshot: {} colours",
        colours.len()
    );
    assert!(image.is_near(1, 1, [255, 255, 255]));

    // Every column's box is where the SVG puts it, in its fill.
    let columns = rects(&svg_text, "column");
    assert_eq!(columns.len(), diagram.columns.len());
    for (x, y, _, _) in &columns {
        assert!(
            image.is_near(x + 3, y + 3, hex(COLUMN_FILL)),
            "column box at ({x}, {y}): {:?}",
            image.at(x + 3, y + 3)
        );
    }
    // The violation's row is highlighted where the SVG says, and only it:
    // the row above is white at the same place.
    let violation = rects(&svg_text, "violation");
    assert_eq!(violation.len(), 1);
    let (x, y, _, h) = violation[0];
    assert_eq!(h, LAYOUT.row);
    assert!(
        image.is_near(x + 3, y + 3, hex(VIOLATION_FILL)),
        "{:?}",
        image.at(x + 3, y + 3)
    );
    assert!(image.is_near(x + 3, y + h - 3, hex(VIOLATION_FILL)));
    assert!(image.is_near(x + 3, y - LAYOUT.row + 3, [255, 255, 255]));
    let row = diagram.rows.iter().position(|r| r.violation).unwrap();
    assert_eq!(y, LAYOUT.row_top(row));
}
