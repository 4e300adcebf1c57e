// Package useragent turns a User-Agent header into a short description
// such as "Firefox on Linux", for session lists and for binding a session
// to a coarse client family. It recognises the common browsers, operating
// systems and command-line clients; anything else is reported as unknown.
//
// User-Agent strings are client-controlled and trivially forged: use the
// result for display and as a weak signal, never for access decisions.
package useragent

import "strings"

// Info is what Parse recognised. Empty fields mean "not recognised".
type Info struct {
	// Browser is the client name: "Chrome", "Firefox", "Safari", "Edge",
	// "Opera", "Samsung Internet", "Vivaldi", "Internet Explorer",
	// "Android Browser", or a tool such as "curl", "Wget",
	// "Go-http-client", "python-requests".
	Browser string
	// OS is "Windows", "macOS", "iOS", "Android", "ChromeOS", "Linux" or
	// "FreeBSD".
	OS string
	// Mobile reports a handheld device: following MDN's advice, any
	// User-Agent containing "Mobi". Phones and iPads set it; Android
	// tablets do not.
	Mobile bool
}

// The lookups below are switches rather than tables so that there is no
// package-level state. Case order is the precedence: browsers borrow each
// other's tokens (Edge, Opera, Samsung Internet and Vivaldi all send
// "Chrome/", and Chrome sends "Safari/").

// tool recognises non-browser clients. Only the first product token counts,
// so a browser string that merely mentions one is not misread.
func tool(ua string) string {
	has := func(prefix string) bool { return strings.HasPrefix(ua, prefix) }
	switch {
	case has("curl/"):
		return "curl"
	case has("Wget/"):
		return "Wget"
	case has("Go-http-client/"):
		return "Go-http-client"
	case has("python-requests/"):
		return "python-requests"
	case has("okhttp/"):
		return "okhttp"
	}
	return ""
}

// browser recognises a browser by the tokens it sends anywhere in ua.
func browser(ua string) string {
	has := func(token string) bool { return strings.Contains(ua, token) }
	switch {
	case has("Edg/"), has("EdgA/"), has("EdgiOS/"), has("Edge/"):
		// Chromium Edge on desktop, Android, iOS; legacy EdgeHTML Edge.
		return "Edge"
	case has("OPR/"), has("OPiOS/"), has("Opera"):
		// Chromium Opera, Opera on iOS, Presto "Opera/9.80".
		return "Opera"
	case has("SamsungBrowser/"):
		return "Samsung Internet"
	case has("Vivaldi/"):
		return "Vivaldi"
	case has("FxiOS/"), has("Firefox/"):
		// Firefox on iOS also sends "Safari/".
		return "Firefox"
	case has("CriOS/"), has("Chrome/"):
		// CriOS is Chrome on iOS.
		return "Chrome"
	case has("MSIE "), has("Trident/"):
		// IE 11 dropped "MSIE".
		return "Internet Explorer"
	}
	return ""
}

// system recognises the operating system. iOS comes before macOS (iOS
// strings say "like Mac OS X"); Android and ChromeOS before Linux (both
// say "Linux").
func system(ua string) string {
	has := func(token string) bool { return strings.Contains(ua, token) }
	switch {
	case has("Windows"):
		return "Windows"
	case has("iPhone"), has("iPad"), has("iPod"):
		return "iOS"
	case has("Android"):
		return "Android"
	case has("CrOS"):
		return "ChromeOS"
	case has("Macintosh"), has("Mac OS X"):
		return "macOS"
	case has("FreeBSD"):
		return "FreeBSD"
	case has("Linux"), has("X11"):
		return "Linux"
	}
	return ""
}

// Parse describes ua. It never fails: an empty or unrecognised string
// gives an Info with empty fields. It does not allocate; its cost is a few
// dozen substring searches over ua, linear in its length (about 0.1 µs for
// a typical header, 50 µs for 10 KB). Bounding header size is the
// caller's job.
func Parse(ua string) Info {
	if t := tool(ua); t != "" {
		return Info{Browser: t} // tools name no OS
	}
	info := Info{Browser: browser(ua), OS: system(ua)}
	if info.Browser == "" && strings.Contains(ua, "Safari/") {
		// Only WebKit browsers not claimed above are left. Old Android
		// stock browsers send "Safari/" without "Chrome/".
		if info.OS == "Android" {
			info.Browser = "Android Browser"
		} else {
			info.Browser = "Safari"
		}
	}
	if info.Browser == "" && info.OS == "iOS" && strings.Contains(ua, "AppleWebKit/") {
		// In-app web views on iOS omit "Safari/" but are Safari's engine.
		info.Browser = "Safari"
	}
	info.Mobile = strings.Contains(ua, "Mobi")
	return info
}

// String describes the client for people: "Firefox on Linux", "curl",
// "Unknown browser on Windows", "Unknown browser".
func (i Info) String() string {
	b := i.Browser
	if b == "" {
		b = "Unknown browser"
	}
	if i.OS == "" {
		return b
	}
	return b + " on " + i.OS
}

// Family returns a stable lowercase key "browser/os", such as
// "chrome/windows" or "curl/unknown", for comparing clients across
// requests. Versions are left out on purpose so that updates do not change
// it.
func (i Info) Family() string {
	return key(i.Browser) + "/" + key(i.OS)
}

// key lowercases a name and replaces spaces, or returns "unknown".
func key(name string) string {
	if name == "" {
		return "unknown"
	}
	return strings.ReplaceAll(strings.ToLower(name), " ", "-")
}
