// Command gatehouse-bench is an HTTP load harness for gatehouse's hot
// paths: forward-auth and GET /v1/me by cookie and by bearer token, the
// refresh grant and token introspection, against a no-op net/http handler
// as the baseline.
//
// It starts, in this process and on loopback listeners, a no-op handler
// (200, two-byte body) and a real gatehouse (embedded SQLite in a temporary
// directory, or the -store and -cache given; cheap password parameters,
// plain HTTP, one access rule that lets any signed-in user reach "/"). It
// creates -users users, signs each in once in cookie mode and once in
// token mode, and, for the scenarios that need them, signs in -c more
// token-mode sessions (one refresh chain per worker), makes a caller
// holding tokens:introspect, and mints -distinct-tokens more access tokens
// (POST /v1/session/token). Then it runs each scenario for -duration with
// -c workers over keep-alive connections and prints a markdown table:
// requests/s, ratio to the no-op baseline, p50/p99 latency and errors (any
// status other than the expected one, or a body that says otherwise).
//
// With a postgres:// -store whose URL sets no search_path, the harness
// works in a fresh schema (gh_bench_…) and drops it at exit; with -cache
// it uses a fresh Redis key prefix and deletes its keys at exit. So it
// never collides with tests or other runs on the same servers.
//
//	go run ./cmd/gatehouse-bench                      # defaults: 1000 users, 64 workers, 10s a scenario
//	go run ./cmd/gatehouse-bench -duration 5s -c 32 -scenarios noop,refresh,introspect
//	go run ./cmd/gatehouse-bench -store 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' -cache redis://127.0.0.1:6379/0
//	go run ./cmd/gatehouse-bench -cpuprofile /tmp/prof   # one CPU profile per scenario
//	go run ./cmd/gatehouse-bench -serve                  # serve for an external load generator (wrk)
//
// Scenarios (-scenarios picks and orders them):
//
//	noop                     GET / on the no-op handler (the baseline)
//	noop-forward             the forward-cookie request, headers and all, to the no-op handler
//	                         (the baseline for forward-auth: the same bytes for net/http to parse)
//	forward-cookie           GET /v1/authz/forward, X-Forwarded-*, a random user's cookie
//	forward-bearer           the same with Authorization: Bearer, one of the N users' tokens
//	forward-bearer-distinct  the same, every request a token never presented before
//	me-cookie                GET /v1/me with a random user's cookie
//	refresh                  POST /v1/token (grant_type=refresh_token, form): each worker
//	                         rotates its own chain and keeps the token it is given
//	introspect               POST /v1/introspect (form) by one caller holding tokens:introspect
//	                         (bearer), about a random user's access token; must be active
//
// forward-bearer-distinct stops early if it runs out of pre-minted tokens
// (it never reuses one); its row then shows the shorter duration.
//
// -serve does the same setup (without the distinct tokens and refresh
// chains), prints KEY=VALUE lines on stdout — noop_url, gatehouse_url, a
// cookie, a bearer token, the introspection caller's bearer token, and
// files with every user's cookie and access token, one a line — then
// "ready", and serves until interrupted. scripts/wrk-crosscheck.sh drives
// wrk with it.
//
// The load generator and the servers share the machine's cores, so the
// figures are a lower bound for the server and the ratios are the point:
// compare within one run.
package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/server"
	"github.com/gatehouse/gatehouse/store/redis"
	"github.com/gatehouse/gatehouse/store/redis/redistest"
)

const userPassword = "correct horse battery staple"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gatehouse-bench:", err)
		}
		os.Exit(1)
	}
}

type options struct {
	users          int
	workers        int
	duration       time.Duration
	setupWorkers   int
	distinctTokens int
	scenarios      string
	store          string
	cache          string
	secretFile     string
	cpuprofile     string
	serve          bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("gatehouse-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.users, "users", 1000, "users to create and sign in (each once by cookie, once by token)")
	fs.IntVar(&o.workers, "c", 64, "concurrent workers (each one request at a time, keep-alive)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each scenario runs")
	fs.IntVar(&o.setupWorkers, "setup-c", 8, "concurrency of the setup (user creation, sign-ins, minting); the password pool queues at most 5×CPUs")
	fs.IntVar(&o.distinctTokens, "distinct-tokens", 100000, "access tokens to pre-mint for forward-bearer-distinct (it stops early when they run out)")
	fs.StringVar(&o.scenarios, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios, in order")
	fs.StringVar(&o.store, "store", "", "store URL (postgres://…); default: SQLite in a temporary directory")
	fs.StringVar(&o.cache, "cache", "", "optional cache URL (redis://HOST:PORT/DB)")
	fs.StringVar(&o.secretFile, "secret-file", "", "server secret file (reuse one with a persistent -store); default: in the temporary directory")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write one CPU profile per scenario into this `directory`")
	fs.BoolVar(&o.serve, "serve", false, "set up, print the URLs and credentials, and serve until interrupted (for wrk); runs no scenario")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.users < 1 || o.workers < 1 || o.setupWorkers < 1 || o.duration <= 0 {
		return errors.New("-users, -c, -setup-c and -duration must be positive")
	}
	scenarios := strings.Split(o.scenarios, ",")
	if o.serve {
		scenarios = []string{"introspect"} // the setup it needs: the introspection caller
	}
	for _, s := range scenarios {
		if !slices.Contains(allScenarios, s) {
			return fmt.Errorf("unknown scenario %q (known: %s)", s, strings.Join(allScenarios, ", "))
		}
	}
	if o.cpuprofile != "" {
		if err := os.MkdirAll(o.cpuprofile, 0o755); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The no-op baseline.
	noopLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	noop := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok"))
	})}
	go noop.Serve(noopLn)
	defer noop.Close()
	noopURL := "http://" + noopLn.Addr().String()

	// gatehouse.
	g, err := startGatehouse(ctx, o, stderr)
	if err != nil {
		return err
	}
	defer g.close()

	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        2 * o.workers,
		MaxIdleConnsPerHost: 2 * o.workers,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	t0 := time.Now()
	creds, err := setup(ctx, client, g, o, scenarios, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "setup done in %s\n", time.Since(t0).Round(time.Millisecond))
	if o.serve {
		return serve(ctx, stdout, stderr, noopURL, g, creds)
	}

	var results []result
	for _, name := range scenarios {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sc := buildScenario(name, noopURL, g.url, creds)
		fmt.Fprintf(stderr, "running %s for %s with %d workers…\n", name, o.duration, o.workers)
		res, err := runScenario(ctx, client, sc, o)
		if err != nil {
			return err
		}
		results = append(results, res)
	}
	printTable(stdout, o, args, results)
	return nil
}

var allScenarios = []string{"noop", "noop-forward", "forward-cookie", "forward-bearer", "forward-bearer-distinct", "me-cookie", "refresh", "introspect"}

// introspectRole is the role the introspection caller holds.
const introspectRole = "bench-introspect"

// serve prints what an external load generator needs and waits for ctx.
func serve(ctx context.Context, stdout, stderr io.Writer, noopURL string, g *gatehouse, cr *credentials) error {
	cookies := make([]string, len(cr.cookies))
	for i, c := range cr.cookies {
		cookies[i] = c.header
	}
	cookieFile := filepath.Join(g.dir, "cookies.txt")
	tokenFile := filepath.Join(g.dir, "tokens.txt")
	if err := os.WriteFile(cookieFile, []byte(strings.Join(cookies, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(tokenFile, []byte(strings.Join(cr.tokens, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "noop_url=%s/\n", noopURL)
	fmt.Fprintf(stdout, "gatehouse_url=%s\n", g.url)
	fmt.Fprintf(stdout, "cookie=%s\n", cookies[0])
	fmt.Fprintf(stdout, "bearer=%s\n", cr.tokens[0])
	fmt.Fprintf(stdout, "introspect_bearer=%s\n", cr.introspector)
	fmt.Fprintf(stdout, "cookies_file=%s\n", cookieFile)
	fmt.Fprintf(stdout, "tokens_file=%s\n", tokenFile)
	fmt.Fprintln(stdout, "ready")
	if f, ok := stdout.(*os.File); ok {
		f.Sync()
	}
	fmt.Fprintln(stderr, "serving; interrupt (Ctrl-C, SIGTERM) to stop")
	<-ctx.Done()
	return nil
}

type gatehouse struct {
	url        string
	cookieName string
	srv        *server.Server
	done       chan error
	stop       context.CancelFunc
	dir        string
	cleanups   []func() // run in reverse order by close
}

func (g *gatehouse) close() {
	if g.stop != nil {
		g.stop()
		<-g.done
	}
	if g.srv != nil {
		g.srv.Close()
	}
	for i := len(g.cleanups) - 1; i >= 0; i-- {
		g.cleanups[i]()
	}
}

// randomHex is n random bytes in hex, for schema names and key prefixes.
func randomHex(n int) string {
	b := make([]byte, n)
	crand.Read(b)
	return hex.EncodeToString(b)
}

// freshSchema creates an empty PostgreSQL schema and returns the store URL
// with its search_path pointing there, and a function that drops it.
func freshSchema(ctx context.Context, raw string, stderr io.Writer) (string, func(), error) {
	conn, err := pgx.Connect(ctx, raw)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	schema := "gh_bench_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, err
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, raw)
		if err == nil {
			_, err = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
		if err != nil {
			fmt.Fprintf(stderr, "dropping schema %s: %v\n", schema, err)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	fmt.Fprintf(stderr, "working in the fresh PostgreSQL schema %s (dropped at exit)\n", schema)
	return u.String(), drop, nil
}

// purgePrefix deletes the Redis keys under prefix.
func purgePrefix(cacheURL, prefix string, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := redis.Open(ctx, cacheURL, redis.Options{Prefix: prefix})
	if err == nil {
		err = redistest.Purge(ctx, h.Client(), prefix)
		h.Close()
	}
	if err != nil {
		fmt.Fprintf(stderr, "deleting Redis keys %s*: %v\n", prefix, err)
	}
}

func startGatehouse(ctx context.Context, o options, stderr io.Writer) (_ *gatehouse, err error) {
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return nil, err
	}
	g := &gatehouse{cookieName: "gatehouse_session", dir: dir, cleanups: []func(){func() { os.RemoveAll(dir) }}}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g.cleanups = append(g.cleanups, func() { ln.Close() })
	cfg := config.Default()
	cfg.Store = "sqlite://" + filepath.Join(dir, "gatehouse.db")
	if o.store != "" {
		cfg.Store = o.store
	}
	if strings.HasPrefix(cfg.Store, "postgres") {
		if u, err := url.Parse(cfg.Store); err == nil && !u.Query().Has("search_path") {
			fresh, drop, err := freshSchema(ctx, cfg.Store, stderr)
			if err != nil {
				return nil, fmt.Errorf("fresh schema on %s: %w", scheme(cfg.Store), err)
			}
			cfg.Store = fresh
			g.cleanups = append(g.cleanups, drop)
		}
	}
	if cfg.Cache = o.cache; cfg.Cache != "" {
		cfg.CachePrefix = "gatehouse-bench-" + randomHex(6) + ":"
		g.cleanups = append(g.cleanups, func() { purgePrefix(cfg.Cache, cfg.CachePrefix, stderr) })
	}
	cfg.SecretFile = filepath.Join(dir, "gatehouse.secret")
	if o.secretFile != "" {
		cfg.SecretFile = o.secretFile
	}
	cfg.PublicURL = "http://" + ln.Addr().String()
	cfg.CookieSecure = false
	cfg.Access = config.Access{Rules: []config.RuleConfig{{Path: []string{"/"}, Allow: "authenticated"}}}
	// Long enough for -serve and a slow run; the TTL costs nothing per
	// request.
	cfg.Tokens.AccessTTL = time.Hour
	if !strings.HasPrefix(cfg.Store, "sqlite://") {
		// server.New migrates only the embedded store; do the others here.
		st, err := server.OpenStore(ctx, cfg.Store, true)
		if err != nil {
			return nil, fmt.Errorf("migrate %s: %w", scheme(cfg.Store), err)
		}
		st.Close()
	}
	params := password.TestParams()
	srv, err := server.New(ctx, cfg, server.Options{PasswordParams: &params})
	if err != nil {
		return nil, fmt.Errorf("start gatehouse: %w", err)
	}
	sctx, stop := context.WithCancel(ctx)
	g.url, g.srv, g.done, g.stop = cfg.PublicURL, srv, make(chan error, 1), stop
	go func() { g.done <- srv.ServeListener(sctx, ln) }()
	fmt.Fprintf(stderr, "gatehouse on %s (store %s, cache %q), no-op handler started\n", g.url, strings.SplitN(cfg.Store, "://", 2)[0], strings.SplitN(o.cache, "://", 2)[0])
	return g, nil
}

type cookieSession struct {
	header string // Cookie header value
	csrf   string
}

type credentials struct {
	cookies      []cookieSession
	tokens       []string
	distinct     []string
	chains       []string // refresh tokens, one chain per worker
	introspector string   // access token of a caller holding tokens:introspect
}

// setup creates the users, signs them in both ways, and mints the
// distinct tokens.
func setup(ctx context.Context, c *http.Client, g *gatehouse, o options, scenarios []string, stderr io.Writer) (*credentials, error) {
	run := fmt.Sprintf("%08x", rand.Uint32()) // emails unique per run, for a persistent -store
	emails := make([]string, o.users)
	for i := range emails {
		emails[i] = fmt.Sprintf("bench-%s-%d@example.com", run, i)
	}
	cr := &credentials{cookies: make([]cookieSession, o.users), tokens: make([]string, o.users)}

	t := time.Now()
	if slices.Contains(scenarios, "introspect") {
		// The role first: defining a role revokes its holders' tokens.
		if _, err := g.srv.Service.PutRole(ctx, auth.Actor{}, introspectRole, []string{auth.PermIntrospect}, "gatehouse-bench introspection caller"); err != nil {
			return nil, fmt.Errorf("introspection role: %w", err)
		}
		email := fmt.Sprintf("bench-%s-introspector@example.com", run)
		if _, err := g.srv.Service.CreateUser(ctx, auth.Actor{}, email, userPassword, []string{introspectRole}); err != nil {
			return nil, fmt.Errorf("introspection caller: %w", err)
		}
		p, err := tokenLogin(ctx, c, g, email)
		if err != nil {
			return nil, fmt.Errorf("introspection caller: %w", err)
		}
		cr.introspector = p.Access
	}
	if err := parallel(ctx, o.users, o.setupWorkers, func(i int) error {
		_, err := g.srv.Service.CreateUser(ctx, auth.Actor{}, emails[i], userPassword, nil)
		return err
	}); err != nil {
		return nil, fmt.Errorf("create users: %w", err)
	}
	fmt.Fprintf(stderr, "created %d users in %s\n", o.users, time.Since(t).Round(time.Millisecond))

	t = time.Now()
	if err := parallel(ctx, o.users, o.setupWorkers, func(i int) error {
		res, body, err := post(ctx, c, g.url+"/v1/login", map[string]string{"email": emails[i], "password": userPassword}, nil)
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("cookie login: %d %s", res.StatusCode, body)
		}
		var m struct {
			CSRF string `json:"csrf_token"`
		}
		json.Unmarshal(body, &m)
		for _, ck := range res.Cookies() {
			if ck.Name == g.cookieName {
				cr.cookies[i] = cookieSession{header: ck.Name + "=" + ck.Value, csrf: m.CSRF}
			}
		}
		if cr.cookies[i].header == "" || m.CSRF == "" {
			return fmt.Errorf("cookie login gave no %s cookie or CSRF token: %s", g.cookieName, body)
		}

		p, err := tokenLogin(ctx, c, g, emails[i])
		if err != nil {
			return err
		}
		cr.tokens[i] = p.Access
		return nil
	}); err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	fmt.Fprintf(stderr, "signed %d users in twice (cookie, token) in %s\n", o.users, time.Since(t).Round(time.Millisecond))

	if slices.Contains(scenarios, "refresh") {
		// A chain of its own for every worker: two workers rotating one
		// chain would race, and the loser's spent token reads as theft.
		t = time.Now()
		cr.chains = make([]string, o.workers)
		if err := parallel(ctx, o.workers, o.setupWorkers, func(i int) error {
			p, err := tokenLogin(ctx, c, g, emails[i%o.users])
			cr.chains[i] = p.Refresh
			return err
		}); err != nil {
			return nil, fmt.Errorf("refresh chains: %w", err)
		}
		fmt.Fprintf(stderr, "signed in %d refresh chains in %s\n", o.workers, time.Since(t).Round(time.Millisecond))
	}

	if slices.Contains(scenarios, "forward-bearer-distinct") && o.distinctTokens > 0 {
		t = time.Now()
		cr.distinct = make([]string, o.distinctTokens)
		if err := parallel(ctx, o.distinctTokens, o.setupWorkers, func(i int) error {
			s := cr.cookies[i%o.users]
			res, body, err := post(ctx, c, g.url+"/v1/session/token", nil, []string{"Cookie", s.header, "X-CSRF-Token", s.csrf, "Origin", g.url})
			if err != nil {
				return err
			}
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("mint: %d %s", res.StatusCode, body)
			}
			var tk struct {
				Access string `json:"access_token"`
			}
			if err := json.Unmarshal(body, &tk); err != nil || tk.Access == "" {
				return fmt.Errorf("mint gave no access token: %s", body)
			}
			cr.distinct[i] = tk.Access
			return nil
		}); err != nil {
			return nil, fmt.Errorf("mint distinct tokens: %w", err)
		}
		// Tokens minted in the same second for the same session could be
		// byte-identical; keep each value once.
		seen := make(map[string]struct{}, len(cr.distinct))
		uniq := cr.distinct[:0]
		for _, tk := range cr.distinct {
			if _, dup := seen[tk]; !dup {
				seen[tk] = struct{}{}
				uniq = append(uniq, tk)
			}
		}
		for _, tk := range cr.tokens {
			delete(seen, tk)
		}
		cr.distinct = uniq
		rand.Shuffle(len(cr.distinct), func(i, j int) { cr.distinct[i], cr.distinct[j] = cr.distinct[j], cr.distinct[i] })
		fmt.Fprintf(stderr, "minted %d distinct access tokens in %s\n", len(cr.distinct), time.Since(t).Round(time.Millisecond))
	}
	return cr, nil
}

// tokenPair is the token endpoints' answer.
type tokenPair struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

// tokenLogin signs in in token mode.
func tokenLogin(ctx context.Context, c *http.Client, g *gatehouse, email string) (tokenPair, error) {
	var p tokenPair
	res, body, err := post(ctx, c, g.url+"/v1/login", map[string]string{"email": email, "password": userPassword, "mode": "token"}, nil)
	if err != nil {
		return p, err
	}
	if res.StatusCode != http.StatusOK {
		return p, fmt.Errorf("token login: %d %s", res.StatusCode, body)
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Access == "" || p.Refresh == "" {
		return p, fmt.Errorf("token login gave no token pair: %s", body)
	}
	return p, nil
}

// parallel runs f(0..n-1) on k goroutines and returns the first error.
func parallel(ctx context.Context, n, k int, f func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(k, n) {
		wg.Go(func() {
			for !failed.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func post(ctx context.Context, c *http.Client, url string, body any, headers []string) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res, data, err
}

// scenario builds one request for worker w; r is the worker's random
// source and seq a run-wide sequence number. ok=false ends the scenario
// (tokens ran out). check, if set, reads the body of every response with
// the expected status (and may keep what it needs for worker w's next
// request); an error counts the request as failed.
type scenario struct {
	name   string
	expect int
	next   func(w int, r *rand.Rand, seq int64) (req *http.Request, ok bool)
	check  func(w int, body []byte) error
}

// formPost is a POST with a form body, as OAuth clients send.
func formPost(target, body string, headers ...string) *http.Request {
	req, _ := http.NewRequest("POST", target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

func buildScenario(name, noopURL, ghURL string, cr *credentials) scenario {
	forwardTo := func(base string, auth ...string) *http.Request {
		req, _ := http.NewRequest("GET", base+"/v1/authz/forward", nil)
		h := req.Header
		h.Set("X-Forwarded-Method", "GET")
		h.Set("X-Forwarded-Proto", "https")
		h.Set("X-Forwarded-Host", "app.example.com")
		h.Set("X-Forwarded-Uri", "/dashboard?tab=1")
		h.Set(auth[0], auth[1])
		return req
	}
	forward := func(auth ...string) *http.Request { return forwardTo(ghURL, auth...) }
	switch name {
	case "noop":
		return scenario{name: name, expect: http.StatusOK, next: func(int, *rand.Rand, int64) (*http.Request, bool) {
			req, _ := http.NewRequest("GET", noopURL+"/", nil)
			return req, true
		}}
	case "noop-forward":
		// The forward-cookie request, byte for byte, to the no-op handler:
		// what parsing those headers costs net/http on its own.
		return scenario{name: name, expect: http.StatusOK, next: func(_ int, r *rand.Rand, _ int64) (*http.Request, bool) {
			return forwardTo(noopURL, "Cookie", cr.cookies[r.IntN(len(cr.cookies))].header), true
		}}
	case "forward-cookie":
		return scenario{name: name, expect: http.StatusOK, next: func(_ int, r *rand.Rand, _ int64) (*http.Request, bool) {
			return forward("Cookie", cr.cookies[r.IntN(len(cr.cookies))].header), true
		}}
	case "forward-bearer":
		return scenario{name: name, expect: http.StatusOK, next: func(_ int, r *rand.Rand, _ int64) (*http.Request, bool) {
			return forward("Authorization", "Bearer "+cr.tokens[r.IntN(len(cr.tokens))]), true
		}}
	case "forward-bearer-distinct":
		return scenario{name: name, expect: http.StatusOK, next: func(_ int, _ *rand.Rand, seq int64) (*http.Request, bool) {
			if seq >= int64(len(cr.distinct)) {
				return nil, false
			}
			return forward("Authorization", "Bearer "+cr.distinct[seq]), true
		}}
	case "me-cookie":
		return scenario{name: name, expect: http.StatusOK, next: func(_ int, r *rand.Rand, _ int64) (*http.Request, bool) {
			req, _ := http.NewRequest("GET", ghURL+"/v1/me", nil)
			req.Header.Set("Cookie", cr.cookies[r.IntN(len(cr.cookies))].header)
			return req, true
		}}
	case "refresh":
		return scenario{name: name, expect: http.StatusOK,
			next: func(w int, _ *rand.Rand, _ int64) (*http.Request, bool) {
				return formPost(ghURL+"/v1/token", "grant_type=refresh_token&refresh_token="+url.QueryEscape(cr.chains[w])), true
			},
			check: func(w int, body []byte) error {
				var p tokenPair
				if err := json.Unmarshal(body, &p); err != nil || p.Access == "" || p.Refresh == "" {
					return fmt.Errorf("refresh gave no token pair: %.200s", body)
				}
				cr.chains[w] = p.Refresh // only worker w touches its chain
				return nil
			}}
	case "introspect":
		active := []byte(`"active":true`)
		return scenario{name: name, expect: http.StatusOK,
			next: func(_ int, r *rand.Rand, _ int64) (*http.Request, bool) {
				return formPost(ghURL+"/v1/introspect", "token="+url.QueryEscape(cr.tokens[r.IntN(len(cr.tokens))]),
					"Authorization", "Bearer "+cr.introspector), true
			},
			check: func(_ int, body []byte) error {
				if !bytes.Contains(body, active) {
					return fmt.Errorf("token not active: %.200s", body)
				}
				return nil
			}}
	}
	panic("unknown scenario " + name)
}

type result struct {
	name      string
	requests  int
	errors    int
	elapsed   time.Duration
	p50, p99  time.Duration
	exhausted bool
	firstErr  string
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func runScenario(ctx context.Context, c *http.Client, sc scenario, o options) (result, error) {
	if o.cpuprofile != "" {
		f, err := os.Create(filepath.Join(o.cpuprofile, sc.name+".pprof"))
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return result{}, err
		}
		defer pprof.StopCPUProfile()
	}

	var (
		seq       atomic.Int64
		exhausted atomic.Bool
		errs      atomic.Int64
		firstErr  atomic.Value
		mu        sync.Mutex
		lat       []time.Duration
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	for w := range o.workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w)+1, uint64(time.Now().UnixNano())))
			local := make([]time.Duration, 0, 1<<14)
			var body bytes.Buffer
			for ctx.Err() == nil && !exhausted.Load() {
				t := time.Now()
				if !t.Before(deadline) {
					break
				}
				req, ok := sc.next(w, r, seq.Add(1)-1)
				if !ok {
					exhausted.Store(true)
					break
				}
				res, err := c.Do(req)
				if err == nil {
					body.Reset()
					_, err = body.ReadFrom(res.Body)
					res.Body.Close()
					if err == nil && res.StatusCode != sc.expect {
						err = fmt.Errorf("status %d: %.200s", res.StatusCode, body.Bytes())
					}
					if err == nil && sc.check != nil {
						err = sc.check(w, body.Bytes())
					}
				}
				local = append(local, time.Since(t))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return result{}, ctx.Err()
	}
	slices.Sort(lat)
	res := result{name: sc.name, requests: len(lat), errors: int(errs.Load()), elapsed: elapsed, exhausted: exhausted.Load()}
	if len(lat) > 0 {
		res.p50 = lat[len(lat)*50/100]
		res.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	if s, ok := firstErr.Load().(string); ok {
		res.firstErr = s
	}
	return res, nil
}

func printTable(w io.Writer, o options, args []string, rs []result) {
	fmt.Fprintf(w, "\ncommand: gatehouse-bench %s\n", strings.Join(args, " "))
	fmt.Fprintf(w, "cores: %d (GOMAXPROCS %d), %s; the load generator and both servers share them\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Fprintf(w, "users: %d, workers: %d, duration per scenario: %s, store: %s, cache: %s\n\n", o.users, o.workers, o.duration, orDefault(scheme(o.store), "sqlite (temp dir)"), orDefault(scheme(o.cache), "none"))
	var base, baseForward float64
	for _, r := range rs {
		switch r.name {
		case "noop":
			base = r.rps()
		case "noop-forward":
			baseForward = r.rps()
		}
	}
	ratioTo := func(rps, b float64) string {
		if b > 0 {
			return fmt.Sprintf("%.2f", rps/b)
		}
		return "–"
	}
	fmt.Fprintln(w, "| scenario | req/s | ratio to noop | p50 | p99 | errors | requests | duration | ratio to noop-forward |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rs {
		dur := r.elapsed.Round(10 * time.Millisecond).String()
		if r.exhausted {
			dur += " (tokens ran out)"
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %d | %d | %s | %s |\n", r.name, r.rps(), ratioTo(r.rps(), base), fmtDur(r.p50), fmtDur(r.p99), r.errors, r.requests, dur, ratioTo(r.rps(), baseForward))
	}
	for _, r := range rs {
		if r.firstErr != "" {
			fmt.Fprintf(w, "\n%s: first error: %s", r.name, r.firstErr)
		}
	}
	fmt.Fprintln(w)
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	}
}

func scheme(u string) string {
	if u == "" {
		return ""
	}
	return strings.SplitN(u, "://", 2)[0]
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
