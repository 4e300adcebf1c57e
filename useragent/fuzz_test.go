package useragent

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParse checks Parse on any header: it never panics; String is never
// empty; Browser and OS are empty or names the package documents; a tool
// names no OS; Mobile is exactly "contains Mobi"; Family is two lower-case
// keys without spaces around one "/"; and Parse is a pure function of its
// input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
		"Mozilla/5.0 (Linux; U; Android 4.0.3; ko-kr; LG-L160L Build/IML74K) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
		"curl/8.5.0", "Wget/1.21", "Go-http-client/2.0", "python-requests/2.31", "okhttp/4.12.0",
		"curl/ Chrome/1 Windows", "Chrome/", "Mobi", "", " ", "\x00", "\xff\xfe", strings.Repeat("Chrome/", 1000),
		"Opera/9.80 (Windows NT 6.1) Presto/2.12.388 Version/12.18", "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0)",
	} {
		f.Add(s)
	}
	browsers := []string{"", "Chrome", "Firefox", "Safari", "Edge", "Opera", "Samsung Internet", "Vivaldi", "Internet Explorer",
		"Android Browser", "curl", "Wget", "Go-http-client", "python-requests", "okhttp"}
	systems := []string{"", "Windows", "macOS", "iOS", "Android", "ChromeOS", "Linux", "FreeBSD"}
	tools := []string{"curl", "Wget", "Go-http-client", "python-requests", "okhttp"}
	f.Fuzz(func(t *testing.T, ua string) {
		info := Parse(ua)
		if info.String() == "" {
			t.Fatalf("Parse(%q).String() is empty", ua)
		}
		if !slices.Contains(browsers, info.Browser) || !slices.Contains(systems, info.OS) {
			t.Fatalf("Parse(%q) = %+v: undocumented name", ua, info)
		}
		if slices.Contains(tools, info.Browser) && (info.OS != "" || info.Mobile) {
			t.Fatalf("Parse(%q) = %+v: a tool with an OS or mobile", ua, info)
		}
		if !slices.Contains(tools, info.Browser) && info.Mobile != strings.Contains(ua, "Mobi") {
			t.Fatalf("Parse(%q).Mobile = %v", ua, info.Mobile)
		}
		fam := info.Family()
		b, o, ok := strings.Cut(fam, "/")
		if !ok || b == "" || o == "" || strings.Contains(o, "/") || fam != strings.ToLower(fam) || strings.Contains(fam, " ") {
			t.Fatalf("Parse(%q).Family() = %q", ua, fam)
		}
		if Parse(ua) != info {
			t.Fatalf("Parse(%q) is not deterministic", ua)
		}
	})
}
