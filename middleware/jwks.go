package middleware

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/token"
)

// keySet is the verify-only key set from the JWKS and the key IDs in it.
type keySet struct {
	set  *token.KeySet
	kids map[string]bool
}

// fetchJWKS fetches, parses and installs the JWKS. The caller holds
// fetchMu. On error the previous keys stay.
func (m *Middleware) fetchJWKS(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.cfg.JWKSURL, nil)
	if err != nil {
		return fmt.Errorf("middleware: JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	res, err := m.client.Do(req)
	if err != nil {
		return fmt.Errorf("middleware: fetch JWKS: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("middleware: fetch JWKS from %s: status %d", m.cfg.JWKSURL, res.StatusCode)
	}
	data, err := readLimited(res.Body, maxJWKSBytes)
	if err != nil {
		return fmt.Errorf("middleware: read JWKS: %w", err)
	}
	set, err := token.ParseJWKS(data)
	if err != nil {
		return fmt.Errorf("middleware: %w", err)
	}
	// ParseJWKS has accepted the document; read the key IDs from it for
	// the "unknown kid" decision.
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("middleware: parse JWKS: %w", err)
	}
	kids := make(map[string]bool, len(doc.Keys))
	for _, k := range doc.Keys {
		kids[k.Kid] = true
	}
	m.keys.Store(&keySet{set: set, kids: kids})
	return nil
}

// refetchFor refetches the JWKS because a token names kid, which the
// current set lacks, unless another unknown kid caused a fetch less than
// JWKSMinRefetch ago. (Scheduled refreshes do not count: a key rotated in
// just after one must not be refused for the whole window.) It reports
// whether kid is known afterwards. Concurrent callers wait for one fetch
// rather than each making their own.
func (m *Middleware) refetchFor(ctx context.Context, kid string) bool {
	m.fetchMu.Lock()
	defer m.fetchMu.Unlock()
	if m.keys.Load().kids[kid] {
		return true // fetched while we waited
	}
	now := m.cfg.Now()
	if !m.lastRefetch.IsZero() && now.Sub(m.lastRefetch) < m.cfg.JWKSMinRefetch {
		return false
	}
	m.lastRefetch = now
	// The request that asked may be cancelled; the fetch serves others too.
	if err := m.fetchJWKS(context.WithoutCancel(ctx)); err != nil {
		m.cfg.Logger.WarnContext(ctx, "gatehouse JWKS refetch failed", "err", err)
		return false
	}
	return m.keys.Load().kids[kid]
}

// refreshKeys refetches the JWKS every JWKSRefresh until ctx ends, so that
// keys gatehouse retired are dropped and new ones are known before use.
func (m *Middleware) refreshKeys(ctx context.Context) {
	t := time.NewTicker(m.cfg.JWKSRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.fetchMu.Lock()
		err := m.fetchJWKS(ctx)
		m.fetchMu.Unlock()
		if err != nil && ctx.Err() == nil {
			m.cfg.Logger.WarnContext(ctx, "gatehouse JWKS refresh failed; keeping the previous keys", "err", err)
		}
	}
}

// headerKID returns the kid of a JWS's header, or "" if there is none or
// the header cannot be read.
func headerKID(tok string) string {
	seg, _, ok := strings.Cut(tok, ".")
	if !ok || len(seg) > 1024 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(raw, &h) != nil || len(h.Kid) > 256 {
		return ""
	}
	return h.Kid
}

// readLimited reads r to the end, failing if it holds more than limit
// bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("response larger than %d bytes", limit)
	}
	return data, nil
}
