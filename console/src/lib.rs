//! The built-in web console of Suslik (issue 6): a small single-page app (one HTML
//! page, one vanilla-JavaScript file, one stylesheet) that every broker node serves at
//! `/console`. The assets are compiled into the binary with `include_bytes!`, so
//! building and running the console needs no Node toolchain and no files next to the
//! binary. The page talks only to the broker's JSON API under `/api/v1`; every view has
//! that REST twin (see docs/api.md, Console).

/// One embedded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The `Content-Type` to serve it with.
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

const INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    bytes: include_bytes!("../assets/index.html"),
};

const FILES: &[(&str, Asset)] = &[
    (
        "app.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            bytes: include_bytes!("../assets/app.js"),
        },
    ),
    (
        "style.css",
        Asset {
            content_type: "text/css; charset=utf-8",
            bytes: include_bytes!("../assets/style.css"),
        },
    ),
    (
        "favicon.svg",
        Asset {
            content_type: "image/svg+xml",
            bytes: include_bytes!("../assets/favicon.svg"),
        },
    ),
];

/// The asset at `path` below `/console/` (`""` or `"index.html"` is the page itself).
/// `None` for anything else: the page's views live in the URL fragment (`#/queues`),
/// which never reaches the server.
pub fn asset(path: &str) -> Option<Asset> {
    match path.trim_start_matches('/') {
        "" | "index.html" => Some(INDEX),
        p => FILES.iter().find(|(name, _)| *name == p).map(|(_, a)| *a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_assets_are_embedded() {
        let page = asset("").expect("index");
        assert!(page.content_type.starts_with("text/html"));
        let html = std::str::from_utf8(page.bytes).expect("utf-8");
        for referenced in ["/console/app.js", "/console/style.css"] {
            assert!(html.contains(referenced), "index.html links {referenced}");
            let a = asset(referenced.trim_start_matches("/console/")).expect(referenced);
            assert!(!a.bytes.is_empty());
        }
        assert_eq!(asset("/index.html"), Some(page));
    }

    #[test]
    fn unknown_paths_are_not_served() {
        assert_eq!(asset("../Cargo.toml"), None);
        assert_eq!(asset("app.js/x"), None);
        assert_eq!(asset("nope.js"), None);
    }

    #[test]
    fn all_fetches_go_through_one_api_function() {
        let js = std::str::from_utf8(asset("app.js").expect("app.js").bytes).expect("utf-8");
        assert_eq!(
            js.matches("fetch(").count(),
            1,
            "app.js calls fetch only inside api()"
        );
        assert!(js.contains("Authorization"));
    }
}
