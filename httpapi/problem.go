package httpapi

import (
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/apperr"
)

// problemTypeBase prefixes every problem type URI; docs/API.md lists them.
const problemTypeBase = "urn:gatehouse:problem:"

// statusOf is the one table from error code to HTTP status.
var statusOf = map[apperr.Code]int{
	apperr.Invalid:         http.StatusBadRequest,
	apperr.Unprocessable:   http.StatusUnprocessableEntity,
	apperr.Unauthenticated: http.StatusUnauthorized,
	apperr.Reauth:          http.StatusUnauthorized,
	apperr.Forbidden:       http.StatusForbidden,
	apperr.CSRF:            http.StatusForbidden,
	apperr.NotFound:        http.StatusNotFound,
	apperr.Conflict:        http.StatusConflict,
	apperr.TooLarge:        http.StatusRequestEntityTooLarge,
	apperr.UnsupportedType: http.StatusUnsupportedMediaType,
	apperr.TooManyRequests: http.StatusTooManyRequests,
	apperr.Busy:            http.StatusTooManyRequests,
	apperr.Unavailable:     http.StatusServiceUnavailable,
	apperr.Internal:        http.StatusInternalServerError,
}

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id,omitempty"`
}

// writeError sends err as problem+json. Internal errors are logged with
// their cause; the client only sees a generic sentence.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := apperr.As(err)
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status >= 500 && (e.Code != apperr.Unavailable || e.Err != nil) {
		a.log.ErrorContext(r.Context(), "request failed", "status", status, "err", err, "request_id", requestID(r.Context()))
	} else if e.Err != nil {
		a.log.DebugContext(r.Context(), "request refused", "code", e.Code, "err", e.Err)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	if e.Code == apperr.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	}
	writeProblem(w, status, Problem{
		Type:      problemTypeBase + string(e.Code),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    e.Message,
		RequestID: requestID(r.Context()),
	})
}

func writeProblem(w http.ResponseWriter, status int, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON sends v with the status. Responses about a caller are never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Default().Debug("response write failed", "err", err)
	}
}
