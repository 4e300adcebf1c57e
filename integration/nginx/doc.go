// Package nginx holds the integration test of gatehouse's forward-auth
// endpoint behind a real nginx (auth_request). It has no code of its own;
// the configuration the test runs is the one docs/INTEGRATION.md shows.
package nginx
