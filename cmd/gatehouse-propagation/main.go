// Command gatehouse-propagation measures how fast a sign-out on one
// gatehouse instance reaches the others' in-memory revocation lists.
//
// For each of -n logouts it signs a user in (token mode) through instance
// A, checks that B and C take the access token, signs it out through A,
// and from the moment A's 204 arrives polls B and C with POST
// /v1/introspect (as an admin) until each answers "active": false. It
// prints p50/p90/p99/max per instance and for both (the slower of B and C
// per logout), with the polls' round trip, which is the resolution.
//
// Why introspection: it answers from the instance's revocation list alone
// (signature, claims, list — no store lookup for the token), which is
// exactly what a stateless verifier consults, so it flips when the
// revocation arrives. GET /v1/me (-probe me) answers from each instance's
// session cache, which follows the same feed, so it measures how soon a
// signed-out session is refused by gatehouse's own endpoints.
//
// It either measures running instances:
//
//	gatehouse-propagation -urls http://a:8080,http://b:8080,http://c:8080 \
//	    -admin-email admin@example.com   # password in GATEHOUSE_PROPAGATION_ADMIN_PASSWORD
//
// or starts everything itself, on loopback and free ports, from the
// gatehouse source tree it is run in (a private PostgreSQL, a private
// Redis unless -backend postgres, three `gatehouse serve` processes):
//
//	go run ./cmd/gatehouse-propagation -backend postgres+redis -n 200
//	go run ./cmd/gatehouse-propagation -backend postgres -n 200   # LISTEN/NOTIFY alone
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/faulttest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gatehouse-propagation:", err)
		}
		os.Exit(1)
	}
}

type options struct {
	urls          string
	backend       string
	bin           string
	n             int
	probe         string
	timeout       time.Duration
	pollEvery     time.Duration
	email         string
	password      string
	adminEmail    string
	adminPassword string
	asJSON        bool
	keep          bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("gatehouse-propagation", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.urls, "urls", "", "comma-separated base `URLs` of running instances A,B[,C…]; empty: start them (see -backend)")
	fs.StringVar(&o.backend, "backend", "postgres+redis", "what to start without -urls: postgres+redis, or postgres (LISTEN/NOTIFY alone)")
	fs.StringVar(&o.bin, "gatehouse", "", "gatehouse `binary` to start (default: go build ./cmd/gatehouse from the current module)")
	fs.IntVar(&o.n, "n", 200, "number of timed logouts")
	fs.StringVar(&o.probe, "probe", string(faulttest.ProbeIntrospect), "what to poll on B and C: introspect (the revocation list) or me (GET /v1/me: the session cache)")
	fs.DurationVar(&o.pollEvery, "poll-every", time.Millisecond, "pause between two polls of one instance (0: back to back, which on a small machine loads the instance and lengthens the tail)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "give up on one logout's propagation after this long")
	fs.StringVar(&o.email, "email", "propagation@example.com", "account to sign in and out (signed up through A if missing)")
	fs.StringVar(&o.password, "password", "propagation test passphrase", "its password")
	fs.StringVar(&o.adminEmail, "admin-email", "", "with -urls: an admin account (for introspection); password in GATEHOUSE_PROPAGATION_ADMIN_PASSWORD")
	fs.BoolVar(&o.asJSON, "json", false, "print the figures as JSON")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, data) of started servers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.probe != string(faulttest.ProbeIntrospect) && o.probe != string(faulttest.ProbeMe) {
		return fmt.Errorf("-probe must be introspect or me, not %q", o.probe)
	}
	cl := faulttest.NewClient(5 * time.Second)
	var urls []string
	what := ""
	if o.urls != "" {
		for _, u := range strings.Split(o.urls, ",") {
			if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
				urls = append(urls, u)
			}
		}
		if len(urls) < 2 {
			return errors.New("-urls needs at least two instances")
		}
		o.adminPassword = os.Getenv("GATEHOUSE_PROPAGATION_ADMIN_PASSWORD")
		if o.probe == string(faulttest.ProbeIntrospect) && (o.adminEmail == "" || o.adminPassword == "") {
			return errors.New("with -urls, introspection needs -admin-email and GATEHOUSE_PROPAGATION_ADMIN_PASSWORD")
		}
		what = "running instances"
	} else {
		c, cleanup, err := startCluster(ctx, o, stderr)
		if cleanup != nil {
			defer cleanup()
		}
		if err != nil {
			return err
		}
		for _, in := range c.Instances {
			urls = append(urls, in.URL)
		}
		o.adminEmail, o.adminPassword = c.AdminEmail, c.AdminPassword
		what = "private " + o.backend + ", 3 instances started by the harness"
	}

	if err := cl.Signup(ctx, urls[0], o.email, o.password); err != nil {
		return err
	}
	cfg := faulttest.PropagationConfig{
		Origin: urls[0], Others: urls[1:], Email: o.email, Password: o.password,
		Logouts: o.n, Probe: faulttest.Probe(o.probe), Timeout: o.timeout, PollEvery: o.pollEvery, Client: cl,
		Progress: func(done int) {
			if done%50 == 0 {
				fmt.Fprintf(stderr, "  %d/%d logouts\n", done, o.n)
			}
		},
	}
	if o.adminEmail != "" {
		tk, err := cl.LoginTokens(ctx, urls[0], o.adminEmail, o.adminPassword)
		if err != nil {
			return err
		}
		cfg.AdminToken = tk.Access
	}
	start := time.Now()
	res, err := faulttest.MeasurePropagation(ctx, cfg)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if o.asJSON {
		return printJSON(stdout, o, what, urls, res)
	}
	printTable(stdout, o, what, urls, res, elapsed)
	if res.Lost > 0 {
		return fmt.Errorf("%d logouts had not reached every instance after %v", res.Lost, o.timeout)
	}
	return nil
}

// startCluster starts the private servers and three instances. cleanup
// stops them (and removes the directory unless -keep).
func startCluster(ctx context.Context, o options, stderr io.Writer) (*faulttest.Cluster, func(), error) {
	if o.backend != "postgres+redis" && o.backend != "postgres" {
		return nil, nil, fmt.Errorf("-backend must be postgres+redis or postgres, not %q", o.backend)
	}
	if err := faulttest.Available(o.backend == "postgres"); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "gatehouse-propagation-")
	if err != nil {
		return nil, nil, err
	}
	var closers []func() error
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		if o.keep {
			fmt.Fprintf(stderr, "kept %s\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}
	bin := o.bin
	if bin == "" {
		fmt.Fprintln(stderr, "building gatehouse …")
		if bin, err = faulttest.BuildGatehouse(dir); err != nil {
			return nil, cleanup, err
		}
	}
	pg, err := faulttest.StartPostgres(filepath.Join(dir, "pg"))
	if err != nil {
		return nil, cleanup, err
	}
	closers = append(closers, pg.Close)
	cfg := faulttest.ClusterConfig{Bin: bin, Dir: filepath.Join(dir, "cluster"), Store: pg.URL("gatehouse")}
	if err := pg.CreateDatabase(ctx, "gatehouse"); err != nil {
		return nil, cleanup, err
	}
	if o.backend == "postgres+redis" {
		rd, err := faulttest.StartRedis(filepath.Join(dir, "redis"))
		if err != nil {
			return nil, cleanup, err
		}
		closers = append(closers, rd.Close)
		cfg.Cache = rd.URL()
	}
	c, err := faulttest.StartCluster(ctx, cfg)
	if err != nil {
		return nil, cleanup, err
	}
	closers = append(closers, c.Close)
	fmt.Fprintf(stderr, "started %s: PostgreSQL :%d%s, instances %s\n", o.backend, pg.Port, map[bool]string{true: " + Redis", false: ""}[cfg.Cache != ""],
		strings.Join([]string{c.Instances[0].URL, c.Instances[1].URL, c.Instances[2].URL}, " "))
	return c, cleanup, nil
}

func printTable(w io.Writer, o options, what string, urls []string, res faulttest.PropagationResult, elapsed time.Duration) {
	fmt.Fprintf(w, "gatehouse-propagation: %d logouts through A (%s), %s\n", len(res.All), urls[0], what)
	fmt.Fprintf(w, "delay from A's 204 to the first refusing answer (%s) from each instance:\n\n", map[string]string{
		"introspect": "POST /v1/introspect: the in-memory revocation list",
		"me":         "GET /v1/me: the session cache, which follows the same feed",
	}[o.probe])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "instance\tp50\tp90\tp99\tmax\t")
	row := func(name string, ds []time.Duration) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", name, ms(faulttest.Percentile(ds, .5)), ms(faulttest.Percentile(ds, .9)),
			ms(faulttest.Percentile(ds, .99)), ms(faulttest.Percentile(ds, 1)))
	}
	for i, u := range urls[1:] {
		row(string(rune('B'+i))+" "+u, res.Per[u])
	}
	row("all (slowest per logout)", res.All)
	tw.Flush()
	fmt.Fprintf(w, "\npoll round trip (the resolution): p50 %s, p99 %s over %d polls; run took %v\n",
		ms(faulttest.Percentile(res.PollRTT, .5)), ms(faulttest.Percentile(res.PollRTT, .99)), len(res.PollRTT), elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "refused at the first poll: %d of %d (logout, instance) pairs — the revocation was there by the time A's 204 arrived, or within one poll\n",
		res.FirstPoll, res.Pairs)
	if res.Lost > 0 {
		fmt.Fprintf(w, "LOST: %d logouts not refused everywhere within %v\n", res.Lost, o.timeout)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

func printJSON(w io.Writer, o options, what string, urls []string, res faulttest.PropagationResult) error {
	type stats struct { // milliseconds
		P50 float64 `json:"p50"`
		P90 float64 `json:"p90"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
		N   int     `json:"n"`
	}
	of := func(ds []time.Duration) stats {
		f := func(q float64) float64 { return float64(faulttest.Percentile(ds, q).Microseconds()) / 1000 }
		return stats{f(.5), f(.9), f(.99), f(1), len(ds)}
	}
	per := map[string]stats{}
	for _, u := range urls[1:] {
		per[u] = of(res.Per[u])
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{
		"setup": what, "probe": o.probe, "origin": urls[0], "per_instance_ms": per,
		"all_ms": of(res.All), "poll_rtt_ms": of(res.PollRTT), "lost": res.Lost,
		"refused_at_first_poll": res.FirstPoll, "pairs": res.Pairs,
	})
}
