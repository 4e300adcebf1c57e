// Package cli is gatehouse's command line: serve, user, sessions, migrate
// and version. It parses flags and configuration and calls into the other
// packages; cmd/gatehouse only calls Main.
package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/apperr"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/server"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/useragent"
)

// Version is the gatehouse version, set at build time with
// -ldflags "-X github.com/gatehouse/gatehouse/cli.Version=…".
var Version = "dev"

// Env is what a command runs with: its streams and environment.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// errUsage marks a usage error already explained on stderr.
var errUsage = errors.New("usage")

const usage = `gatehouse: authentication, sessions and authorization server.

Usage:
  gatehouse serve [flags]                       run the server
  gatehouse user add EMAIL [--role R]...        create a user (password on stdin)
  gatehouse user list [--json]                  list users
  gatehouse user set-roles USER [ROLE]...       replace a user's roles
  gatehouse user disable|enable USER            disable (and sign out) or enable a user
  gatehouse sessions list USER [--json]         list a user's sessions
  gatehouse sessions revoke USER [SESSION_ID]   end one session, or all of the user's
  gatehouse role list [--json]                  list roles and their permissions
  gatehouse role set NAME [PERMISSION]...       create or replace a role (e.g. notes:read notes:*)
  gatehouse role delete NAME                    delete a role
  gatehouse audit [--user U] [--type T] [--since TIME] [--limit N] [--json]
                                                read the audit log, newest first
  gatehouse keys list [--json]                  list signing keys
  gatehouse keys rotate                         make a new signing key current
  gatehouse migrate                             create or upgrade the store's schema
  gatehouse version                             print the version

USER is a user ID or an email. Every command takes --store and --config;
every flag can also be set as GATEHOUSE_<FLAG> (e.g. GATEHOUSE_STORE).
Run "gatehouse COMMAND --help" for a command's flags.
`

// groupHelp is what "gatehouse GROUP --help" prints; each subcommand also
// takes --help for its flags.
var groupHelp = map[string]string{
	"user": `Usage:
  gatehouse user add EMAIL [--role R]...    create a user; the password is read from standard input
  gatehouse user list [--json]              list users
  gatehouse user set-roles USER [ROLE]...   replace a user's roles (their access tokens are revoked)
  gatehouse user disable USER               disable a user and end every session
  gatehouse user enable USER                enable a user again
USER is a user ID or an email. "gatehouse user SUBCOMMAND --help" lists the flags.
`,
	"role": `Usage:
  gatehouse role list [--json]                         list roles and their permissions
  gatehouse role set NAME [PERMISSION]... [--description D]
                                                       create or replace a role (permissions like notes:read, notes:*, *)
  gatehouse role delete NAME                           delete a role
`,
	"sessions": `Usage:
  gatehouse sessions list USER [--json]        list a user's live sessions
  gatehouse sessions revoke USER [SESSION_ID]  end one session, or every session of the user
`,
	"keys": `Usage:
  gatehouse keys list [--json]   list signing keys (signing, verifying, expired)
  gatehouse keys rotate          make a new signing key current; the old one verifies until its tokens expire
`,
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	err := run(ctx, args, env)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(env.Stderr, "gatehouse: %s\n", message(err))
		return 1
	}
}

// message is the sentence for a person: an apperr's message, else the error.
func message(err error) string {
	var e *apperr.Error
	if errors.As(err, &e) && e.Code != apperr.Internal {
		return e.Message
	}
	return err.Error()
}

func run(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	if groupHelp[cmd] != "" && len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "-help" || rest[0] == "help") {
		fmt.Fprint(env.Stdout, groupHelp[cmd])
		return nil
	}
	switch cmd {
	case "serve":
		return serve(ctx, rest, env)
	case "user", "users":
		return userCmd(ctx, rest, env)
	case "sessions", "session":
		return sessionsCmd(ctx, rest, env)
	case "migrate":
		return migrate(ctx, rest, env)
	case "keys", "key":
		return keysCmd(ctx, rest, env)
	case "role", "roles":
		return roleCmd(ctx, rest, env)
	case "audit":
		return auditCmd(ctx, rest, env)
	case "version", "--version":
		fmt.Fprintf(env.Stdout, "gatehouse %s\n", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	default:
		fmt.Fprintf(env.Stderr, "gatehouse: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}

// parse parses a command's flags with the shared configuration flags.
// Flags may come before or after positional arguments.
func parse(name string, args []string, env Env, serve bool, extra func(fs *flag.FlagSet)) (config.Config, []string, error) {
	cfg := config.Default()
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	binding := config.Flags(fs, &cfg, serve)
	if extra != nil {
		extra(fs)
	}
	flags, positional := splitArgs(fs, args)
	if err := binding.Parse(flags, env.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, nil, err
		}
		fmt.Fprintf(env.Stderr, "gatehouse %s: %v\n", name, err)
		return cfg, nil, errUsage
	}
	return cfg, append(positional, fs.Args()...), nil
}

// splitArgs separates flags from positional arguments so that
// "user add a@b.c --role admin" works as well as the flags-first order.
func splitArgs(fs *flag.FlagSet, args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(positional, args[i+1:]...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil && !isBool(f) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, args []string, env Env) error {
	cfg, rest, err := parse("serve", args, env, true, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		fmt.Fprintf(env.Stderr, "gatehouse serve: unexpected argument %q\n", rest[0])
		return errUsage
	}
	log := newLogger(cfg, env.Stderr)
	srv, err := server.New(ctx, cfg, server.Options{Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	return srv.Serve(ctx)
}

func migrate(ctx context.Context, args []string, env Env) error {
	cfg, _, err := parse("migrate", args, env, false, nil)
	if err != nil {
		return err
	}
	st, err := server.OpenStore(ctx, cfg.Store, true)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintln(env.Stdout, "schema is up to date")
	return nil
}

// cliActor is how the audit log records the command line: no user, no IP.
var cliActor = auth.Actor{}

// withCore runs fn with gatehouse's core on the configured store.
func withCore(ctx context.Context, cfg config.Config, env Env, fn func(*server.Core) error) error {
	core, err := server.Open(ctx, cfg, server.Options{Logger: newLogger(config.Config{LogLevel: "warn"}, env.Stderr)})
	if err != nil {
		return err
	}
	defer core.Close()
	return fn(core)
}

// withService runs fn with an auth service on the configured store.
func withService(ctx context.Context, cfg config.Config, env Env, fn func(*auth.Service) error) error {
	return withCore(ctx, cfg, env, func(c *server.Core) error { return fn(c.Service) })
}

// findUser accepts a user ID or an email.
func findUser(ctx context.Context, svc *auth.Service, ref string) (store.User, error) {
	if strings.Contains(ref, "@") {
		return svc.UserByEmail(ctx, ref)
	}
	return svc.User(ctx, ref)
}

type roleList []string

func (r *roleList) String() string     { return strings.Join(*r, ",") }
func (r *roleList) Set(s string) error { *r = append(*r, s); return nil }

func userCmd(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, "usage: gatehouse user add|list|set-roles|disable|enable …\n")
		return errUsage
	}
	sub, args := args[0], args[1:]
	var roles roleList
	var asJSON bool
	cfg, rest, err := parse("user "+sub, args, env, false, func(fs *flag.FlagSet) {
		if sub == "add" {
			fs.Var(&roles, "role", "give the user this `role` (repeatable)")
		}
		if sub == "list" {
			fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
		}
	})
	if err != nil {
		return err
	}
	want := map[string][2]int{"add": {1, 1}, "list": {0, 0}, "set-roles": {1, -1}, "disable": {1, 1}, "enable": {1, 1}}
	n, ok := want[sub]
	if !ok {
		fmt.Fprintf(env.Stderr, "gatehouse user: unknown subcommand %q (add, list, set-roles, disable, enable)\n", sub)
		return errUsage
	}
	if len(rest) < n[0] || (n[1] >= 0 && len(rest) > n[1]) {
		fmt.Fprintf(env.Stderr, "gatehouse user %s: wrong number of arguments; see gatehouse --help\n", sub)
		return errUsage
	}
	return withService(ctx, cfg, env, func(svc *auth.Service) error {
		switch sub {
		case "add":
			pw, err := readPassword(env.Stdin)
			if err != nil {
				return err
			}
			u, err := svc.CreateUser(ctx, cliActor, rest[0], pw, roles)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "created user %s (%s)\n", u.ID, u.Email)
		case "list":
			return listUsers(ctx, svc, env.Stdout, asJSON)
		case "set-roles":
			u, err := findUser(ctx, svc, rest[0])
			if err != nil {
				return err
			}
			if u, err = svc.SetRoles(ctx, cliActor, u.ID, rest[1:]); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s now has roles: %s\n", u.Email, strings.Join(u.Roles, ", "))
		case "disable", "enable":
			u, err := findUser(ctx, svc, rest[0])
			if err != nil {
				return err
			}
			if u, err = svc.SetDisabled(ctx, cliActor, u.ID, sub == "disable"); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s is now %sd\n", u.Email, sub)
		}
		return nil
	})
}

// readPassword takes the first line of stdin, so that
// `echo pw | gatehouse user add …` and a typed line both work.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("no password: give it on standard input")
	}
	line, err := bufio.NewReaderSize(r, 4096).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password: give it on standard input, e.g. echo 'a long passphrase' | gatehouse user add …")
	}
	return pw, nil
}

func listUsers(ctx context.Context, svc *auth.Service, w io.Writer, asJSON bool) error {
	var all []store.User
	after := ""
	for {
		page, err := svc.ListUsers(ctx, store.ListUsersOptions{After: after, Limit: 500})
		if err != nil {
			return err
		}
		all = append(all, page...)
		if len(page) < 500 {
			break
		}
		after = page[len(page)-1].ID
	}
	if asJSON {
		type row struct {
			ID        string    `json:"id"`
			Email     string    `json:"email"`
			Roles     []string  `json:"roles"`
			Disabled  bool      `json:"disabled"`
			CreatedAt time.Time `json:"created_at"`
		}
		rows := make([]row, 0, len(all))
		for _, u := range all {
			rows = append(rows, row{u.ID, u.Email, append([]string{}, u.Roles...), u.Disabled, u.CreatedAt})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tROLES\tSTATUS\tCREATED")
	for _, u := range all {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, strings.Join(u.Roles, ","), status, u.CreatedAt.Format(time.DateTime))
	}
	return tw.Flush()
}

func sessionsCmd(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, "usage: gatehouse sessions list|revoke USER …\n")
		return errUsage
	}
	sub, args := args[0], args[1:]
	var asJSON bool
	cfg, rest, err := parse("sessions "+sub, args, env, false, func(fs *flag.FlagSet) {
		if sub == "list" {
			fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
		}
	})
	if err != nil {
		return err
	}
	if (sub != "list" && sub != "revoke") || len(rest) < 1 || len(rest) > 2 || (sub == "list" && len(rest) != 1) {
		fmt.Fprint(env.Stderr, "usage: gatehouse sessions list USER | gatehouse sessions revoke USER [SESSION_ID]\n")
		return errUsage
	}
	return withService(ctx, cfg, env, func(svc *auth.Service) error {
		u, err := findUser(ctx, svc, rest[0])
		if err != nil {
			return err
		}
		if sub == "revoke" {
			if len(rest) == 2 {
				if err := svc.RevokeSession(ctx, cliActor, u.ID, rest[1]); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "revoked session %s\n", rest[1])
				return nil
			}
			n, err := svc.RevokeSessions(ctx, cliActor, u.ID, "")
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "revoked %d session(s) of %s\n", n, u.Email)
			return nil
		}
		list, err := svc.ListSessions(ctx, u.ID)
		if err != nil {
			return err
		}
		if asJSON {
			type row struct {
				ID         string    `json:"id"`
				Device     string    `json:"device"`
				IP         string    `json:"ip"`
				CreatedAt  time.Time `json:"created_at"`
				LastSeenAt time.Time `json:"last_seen_at"`
				ExpiresAt  time.Time `json:"expires_at"`
			}
			rows := make([]row, 0, len(list))
			for _, s := range list {
				rows = append(rows, row{s.ID, useragent.Parse(s.UserAgent).String(), s.IP, s.CreatedAt, s.LastSeenAt, s.ExpiresAt})
			}
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rows)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tDEVICE\tIP\tCREATED\tLAST SEEN")
		for _, s := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, useragent.Parse(s.UserAgent).String(), s.IP, s.CreatedAt.Format(time.DateTime), s.LastSeenAt.Format(time.DateTime))
		}
		return tw.Flush()
	})
}

func keysCmd(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "rotate") {
		fmt.Fprint(env.Stderr, "usage: gatehouse keys list [--json] | gatehouse keys rotate\n")
		return errUsage
	}
	sub, args := args[0], args[1:]
	var asJSON bool
	cfg, rest, err := parse("keys "+sub, args, env, false, func(fs *flag.FlagSet) {
		if sub == "list" {
			fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
		}
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		fmt.Fprintf(env.Stderr, "gatehouse keys %s: unexpected argument %q\n", sub, rest[0])
		return errUsage
	}
	return withCore(ctx, cfg, env, func(c *server.Core) error {
		if sub == "rotate" {
			k, err := c.Keys.Rotate(ctx)
			if err != nil {
				return err
			}
			c.Service.AuditKeyRotated(ctx, cliActor, k.ID)
			fmt.Fprintf(env.Stdout, "new signing key %s (%s); running servers pick it up within 30s, and the previous key verifies until its tokens expire\n", k.ID, k.Alg)
			return nil
		}
		list, err := c.Keys.List(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tRETIRED")
		for _, k := range list {
			retired := "-"
			if !k.RetiredAt.IsZero() {
				retired = k.RetiredAt.Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Alg, k.State, k.CreatedAt.Format(time.DateTime), retired)
		}
		return tw.Flush()
	})
}

func roleCmd(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, "usage: gatehouse role list|set|delete …\n")
		return errUsage
	}
	sub, args := args[0], args[1:]
	var asJSON bool
	var description string
	cfg, rest, err := parse("role "+sub, args, env, false, func(fs *flag.FlagSet) {
		switch sub {
		case "list":
			fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
		case "set":
			fs.StringVar(&description, "description", "", "what the role is for")
		}
	})
	if err != nil {
		return err
	}
	switch {
	case sub == "list" && len(rest) == 0, sub == "set" && len(rest) >= 1, sub == "delete" && len(rest) == 1:
	case sub != "list" && sub != "set" && sub != "delete":
		fmt.Fprintf(env.Stderr, "gatehouse role: unknown subcommand %q (list, set, delete)\n", sub)
		return errUsage
	default:
		fmt.Fprintf(env.Stderr, "gatehouse role %s: wrong number of arguments; see gatehouse --help\n", sub)
		return errUsage
	}
	return withService(ctx, cfg, env, func(svc *auth.Service) error {
		switch sub {
		case "set":
			r, err := svc.PutRole(ctx, cliActor, rest[0], rest[1:], description)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "role %s: %s\n", r.Name, strings.Join(r.Permissions, " "))
			return nil
		case "delete":
			if err := svc.DeleteRole(ctx, cliActor, rest[0]); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "deleted role %s\n", rest[0])
			return nil
		}
		list, err := svc.ListRoles(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			type row struct {
				Name        string   `json:"name"`
				Permissions []string `json:"permissions"`
				Description string   `json:"description"`
			}
			rows := make([]row, 0, len(list))
			for _, r := range list {
				rows = append(rows, row{r.Name, append([]string{}, r.Permissions...), r.Description})
			}
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rows)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ROLE\tPERMISSIONS\tDESCRIPTION")
		for _, r := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, strings.Join(r.Permissions, " "), r.Description)
		}
		return tw.Flush()
	})
}

func auditCmd(ctx context.Context, args []string, env Env) error {
	var asJSON bool
	var userRef, typ, since string
	var limit int
	cfg, rest, err := parse("audit", args, env, false, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
		fs.StringVar(&userRef, "user", "", "only events about this `user` (ID or email)")
		fs.StringVar(&typ, "type", "", "only events of this `type` (e.g. signin.failed, refresh.reuse)")
		fs.StringVar(&since, "since", "", "only events at or after this RFC 3339 `time`, or a duration ago such as 24h")
		fs.IntVar(&limit, "limit", 50, "at most this many events (1-1000)")
	})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		fmt.Fprintf(env.Stderr, "gatehouse audit: unexpected argument %q\n", rest[0])
		return errUsage
	}
	if limit < 1 || limit > 1000 {
		fmt.Fprintln(env.Stderr, "gatehouse audit: --limit must be from 1 to 1000")
		return errUsage
	}
	f := store.AuditFilter{Type: typ, Limit: limit}
	if since != "" {
		if d, err := time.ParseDuration(since); err == nil && d > 0 {
			f.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, since); err == nil {
			f.Since = t
		} else {
			fmt.Fprintf(env.Stderr, "gatehouse audit: --since %q is neither an RFC 3339 time nor a duration\n", since)
			return errUsage
		}
	}
	return withService(ctx, cfg, env, func(svc *auth.Service) error {
		if userRef != "" {
			u, err := findUser(ctx, svc, userRef)
			if err != nil {
				return err
			}
			f.UserID = u.ID
		}
		events, err := svc.ListAudit(ctx, f)
		if err != nil {
			return err
		}
		if asJSON {
			if events == nil {
				events = []store.AuditEvent{}
			}
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(events)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTIME\tTYPE\tUSER\tACTOR\tSESSION\tIP\tDETAIL")
		for _, e := range events {
			var detail []string
			for k, v := range e.Detail {
				detail = append(detail, k+"="+v)
			}
			slices.Sort(detail)
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Time.Format(time.DateTime), e.Type, dash(e.UserID), dash(e.ActorID), dash(e.SessionID), dash(e.IP), strings.Join(detail, " "))
		}
		return tw.Flush()
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
