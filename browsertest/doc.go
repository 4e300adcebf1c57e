// Package browsertest holds gatehouse's end-to-end tests in a real
// browser: headless Chromium, driven over the DevTools protocol with
// chromedp, against a gatehouse started in-process on a loopback
// listener. They check what only a browser can: that the pages work with
// their strict Content-Security-Policy, that the session cookie's flags
// are what the browser stores, that a page on another origin cannot sign
// you out or change your password, and how the pages look (the
// screenshots in docs/screenshots come from here).
//
// Chromium is found on PATH (chromium, chromium-browser, google-chrome)
// or at GATEHOUSE_TEST_CHROME. Without it the tests skip loudly, unless
// GATEHOUSE_TEST_REQUIRE_SERVICES=1, when they fail. Refresh the committed
// screenshots with
//
//	go test ./browsertest -run TestBrowser -update-screenshots
package browsertest
