package useragent

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, ua    string
		browser, os string
		mobile      bool
		str, family string
	}{
		{
			name:    "Chrome on Windows",
			ua:      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			browser: "Chrome", os: "Windows",
			str: "Chrome on Windows", family: "chrome/windows",
		},
		{
			name:    "Chrome on macOS",
			ua:      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			browser: "Chrome", os: "macOS",
			str: "Chrome on macOS", family: "chrome/macos",
		},
		{
			name:    "Chrome on Android",
			ua:      "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
			browser: "Chrome", os: "Android", mobile: true,
			str: "Chrome on Android", family: "chrome/android",
		},
		{
			name:    "Chrome on ChromeOS",
			ua:      "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			browser: "Chrome", os: "ChromeOS",
			str: "Chrome on ChromeOS", family: "chrome/chromeos",
		},
		{
			name:    "Firefox on Linux",
			ua:      "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
			browser: "Firefox", os: "Linux",
			str: "Firefox on Linux", family: "firefox/linux",
		},
		{
			name:    "Firefox on Android",
			ua:      "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
			browser: "Firefox", os: "Android", mobile: true,
			str: "Firefox on Android", family: "firefox/android",
		},
		{
			name:    "Firefox on iOS",
			ua:      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15",
			browser: "Firefox", os: "iOS", mobile: true,
			str: "Firefox on iOS", family: "firefox/ios",
		},
		{
			name:    "Safari on macOS",
			ua:      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
			browser: "Safari", os: "macOS",
			str: "Safari on macOS", family: "safari/macos",
		},
		{
			name:    "Safari on iPhone",
			ua:      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
			browser: "Safari", os: "iOS", mobile: true,
			str: "Safari on iOS", family: "safari/ios",
		},
		{
			name:    "Safari on iPad",
			ua:      "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
			browser: "Safari", os: "iOS", mobile: true,
			str: "Safari on iOS", family: "safari/ios",
		},
		{
			name:    "iOS in-app web view",
			ua:      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
			browser: "Safari", os: "iOS", mobile: true,
			str: "Safari on iOS", family: "safari/ios",
		},
		{
			name:    "Chrome on iOS",
			ua:      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
			browser: "Chrome", os: "iOS", mobile: true,
			str: "Chrome on iOS", family: "chrome/ios",
		},
		{
			name:    "Edge on Windows",
			ua:      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
			browser: "Edge", os: "Windows",
			str: "Edge on Windows", family: "edge/windows",
		},
		{
			name:    "legacy Edge",
			ua:      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19582",
			browser: "Edge", os: "Windows",
			str: "Edge on Windows", family: "edge/windows",
		},
		{
			name:    "Edge on Android",
			ua:      "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 EdgA/124.0.2478.64",
			browser: "Edge", os: "Android", mobile: true,
			str: "Edge on Android", family: "edge/android",
		},
		{
			name:    "Opera on Windows",
			ua:      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36 OPR/109.0.0.0",
			browser: "Opera", os: "Windows",
			str: "Opera on Windows", family: "opera/windows",
		},
		{
			name:    "Presto Opera",
			ua:      "Opera/9.80 (X11; Linux x86_64; U; en) Presto/2.12.388 Version/12.16",
			browser: "Opera", os: "Linux",
			str: "Opera on Linux", family: "opera/linux",
		},
		{
			name:    "Samsung Internet",
			ua:      "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
			browser: "Samsung Internet", os: "Android", mobile: true,
			str: "Samsung Internet on Android", family: "samsung-internet/android",
		},
		{
			name:    "Samsung Internet on a tablet",
			ua:      "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Safari/537.36",
			browser: "Samsung Internet", os: "Android",
			str: "Samsung Internet on Android", family: "samsung-internet/android",
		},
		{
			name:    "Vivaldi",
			ua:      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Vivaldi/6.7.3329.17",
			browser: "Vivaldi", os: "Linux",
			str: "Vivaldi on Linux", family: "vivaldi/linux",
		},
		{
			name:    "Internet Explorer 11",
			ua:      "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
			browser: "Internet Explorer", os: "Windows",
			str: "Internet Explorer on Windows", family: "internet-explorer/windows",
		},
		{
			name:    "old Android stock browser",
			ua:      "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; HTC Sensation Build/IML74K) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
			browser: "Android Browser", os: "Android", mobile: true,
			str: "Android Browser on Android", family: "android-browser/android",
		},
		{
			name:    "curl",
			ua:      "curl/8.5.0",
			browser: "curl",
			str:     "curl", family: "curl/unknown",
		},
		{
			name:    "wget",
			ua:      "Wget/1.21.4",
			browser: "Wget",
			str:     "Wget", family: "wget/unknown",
		},
		{
			name:    "Go-http-client",
			ua:      "Go-http-client/2.0",
			browser: "Go-http-client",
			str:     "Go-http-client", family: "go-http-client/unknown",
		},
		{
			name:    "python-requests",
			ua:      "python-requests/2.31.0",
			browser: "python-requests",
			str:     "python-requests", family: "python-requests/unknown",
		},
		{
			name:    "browser mentioning curl is still a browser",
			ua:      "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0 curl/8.5.0",
			browser: "Firefox", os: "Linux",
			str: "Firefox on Linux", family: "firefox/linux",
		},
		{
			name: "unknown browser on known OS",
			ua:   "SomeBot/1.0 (Windows NT 10.0)",
			os:   "Windows",
			str:  "Unknown browser on Windows", family: "unknown/windows",
		},
		{
			name: "empty",
			ua:   "",
			str:  "Unknown browser", family: "unknown/unknown",
		},
		{
			name: "garbage",
			ua:   "\x00\xff\xfe}{][ 🙃 ;;;///",
			str:  "Unknown browser", family: "unknown/unknown",
		},
		{
			name: "lowercase tokens are not tokens",
			ua:   "chrome/124 windows firefox/1",
			str:  "Unknown browser", family: "unknown/unknown",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Parse(c.ua)
			want := Info{Browser: c.browser, OS: c.os, Mobile: c.mobile}
			if got != want {
				t.Errorf("Parse = %+v, want %+v", got, want)
			}
			if s := got.String(); s != c.str {
				t.Errorf("String = %q, want %q", s, c.str)
			}
			if f := got.Family(); f != c.family {
				t.Errorf("Family = %q, want %q", f, c.family)
			}
		})
	}
}

func TestInfoStringAndFamily(t *testing.T) {
	// Fields set directly, independent of Parse.
	cases := []struct {
		info        Info
		str, family string
	}{
		{Info{}, "Unknown browser", "unknown/unknown"},
		{Info{Browser: "Firefox", OS: "Linux"}, "Firefox on Linux", "firefox/linux"},
		{Info{OS: "iOS", Mobile: true}, "Unknown browser on iOS", "unknown/ios"},
		{Info{Browser: "Samsung Internet"}, "Samsung Internet", "samsung-internet/unknown"},
	}
	for _, c := range cases {
		if s := c.info.String(); s != c.str {
			t.Errorf("%+v.String() = %q, want %q", c.info, s, c.str)
		}
		if f := c.info.Family(); f != c.family {
			t.Errorf("%+v.Family() = %q, want %q", c.info, f, c.family)
		}
	}
}

func TestParseHugeInputIsCheap(t *testing.T) {
	// A 10 KB header of near-misses: every search must scan it all.
	huge := strings.Repeat("Mozilla/5.0 (Chrom; Firefo) ", 10*1024/28+1)[:10*1024]
	if got := Parse(huge); got != (Info{}) {
		t.Errorf("Parse(10 KB of near-misses) = %+v, want zero Info", got)
	}
	// A real browser string padded to 10 KB still parses.
	padded := strings.Repeat("x", 10*1024) + " Mozilla/5.0 (Windows NT 10.0) Firefox/125.0"
	if got := Parse(padded); got.Browser != "Firefox" || got.OS != "Windows" {
		t.Errorf("Parse(padded) = %+v", got)
	}
	// Cheap means no allocation at all, whatever the length; timing is
	// left to the benchmark.
	if n := testing.AllocsPerRun(100, func() { Parse(huge) }); n != 0 {
		t.Errorf("Parse allocates %v times per call, want 0", n)
	}
}

func BenchmarkParseChrome(b *testing.B) {
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	for b.Loop() {
		Parse(ua)
	}
}

func BenchmarkParse10KB(b *testing.B) {
	ua := strings.Repeat("Mozilla/5.0 (Chrom; Firefo) ", 10*1024/28+1)[:10*1024]
	for b.Loop() {
		Parse(ua)
	}
}
