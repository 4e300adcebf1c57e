package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/apperr"
)

// maxBodyBytes bounds every JSON request body. The largest legitimate body
// is a password of 1024 characters plus an email: well under this.
const maxBodyBytes = 16 << 10

// decodeJSON reads exactly one JSON object into dst, refusing other media
// types, oversized bodies, unknown fields, wrong types and trailing data
// with a sentence that says which.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return apperr.New(apperr.UnsupportedType, "Send the request body as JSON with Content-Type: application/json.")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return apperr.New(apperr.UnsupportedType, "Send the request body as JSON with Content-Type: application/json.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return jsonError(err)
		}
		return apperr.New(apperr.Invalid, "The request body must hold a single JSON object and nothing after it.")
	}
	return nil
}

func jsonError(err error) error {
	var (
		syntax    *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		tooBig    *http.MaxBytesError
		invalidUT *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &tooBig):
		return apperr.New(apperr.TooLarge, fmt.Sprintf("The request body is too large (at most %d bytes).", tooBig.Limit))
	case errors.Is(err, io.EOF):
		return apperr.New(apperr.Invalid, "The request body is empty; send a JSON object.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.New(apperr.Invalid, "The request body is not valid JSON: it ends too early.")
	case errors.As(err, &syntax):
		return apperr.New(apperr.Invalid, fmt.Sprintf("The request body is not valid JSON (error at byte %d).", syntax.Offset))
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return apperr.New(apperr.Invalid, "The request body must be a JSON object.")
		}
		return apperr.New(apperr.Invalid, fmt.Sprintf("Field %q must be a %s, not a JSON %s.", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for unknown fields.
		return apperr.New(apperr.Invalid, fmt.Sprintf("The request body has a field this endpoint does not know: %s.", strings.TrimPrefix(err.Error(), "json: unknown field ")))
	case errors.As(err, &invalidUT):
		return apperr.Wrap(apperr.Internal, "Something went wrong on our side; please try again.", err)
	default:
		return apperr.Wrap(apperr.Invalid, "The request body could not be read as JSON.", err)
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "list"
	case "struct", "map":
		return "object"
	default:
		return "number"
	}
}
