package faulttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ServeFlags are the flags every instance gets besides its store, cache,
// secret and address: cheap password hashing (the tests sign in a lot), a
// short revocation stale bound (so an outage reaches the fail-closed state
// within a test's patience), and warnings-and-up JSON logs.
var ServeFlags = []string{
	"--password-memory-kib", "64", "--password-iterations", "1",
	"--revocation-max-stale", "3s",
	"--log-format", "json", "--log-level", "warn",
}

// ClusterConfig describes a set of gatehouse instances on one store.
type ClusterConfig struct {
	// Bin is the gatehouse binary (see BuildGatehouse).
	Bin string
	// Dir receives the secret file and the instances' logs.
	Dir string
	// Store is the durable store's URL (postgres://…); StartCluster runs
	// `gatehouse migrate` on it first.
	Store string
	// Cache is the Redis URL, or empty for PostgreSQL alone.
	Cache string
	// CachePrefix starts every Redis key; empty picks a random one.
	CachePrefix string
	// Instances is how many to start (default 3).
	Instances int
	// Extra flags for `gatehouse serve`, after ServeFlags (so they win).
	Extra []string
}

// Cluster is several gatehouse processes sharing a store, a cache and a
// secret file, plus an admin account (its password in AdminPassword).
type Cluster struct {
	Config        ClusterConfig
	Instances     []*Instance
	AdminEmail    string
	AdminPassword string
}

// Instance is one `gatehouse serve` child process.
type Instance struct {
	Name string
	// URL is http://127.0.0.1:PORT; a restarted instance keeps it.
	URL  string
	proc *proc
}

// StartCluster migrates the store, creates the secret file, the first
// signing key and an admin (through `gatehouse user add`, so that the
// instances find them all in place), then starts the instances in
// parallel and waits until each answers /readyz with 200.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.Instances <= 0 {
		cfg.Instances = 3
	}
	if cfg.CachePrefix == "" {
		cfg.CachePrefix = "gh_" + RandomHex(4) + ":"
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	c := &Cluster{Config: cfg, AdminEmail: "admin-" + RandomHex(3) + "@example.com", AdminPassword: "admin passphrase " + RandomHex(8)}
	if out, err := c.Run(ctx, "", "migrate"); err != nil {
		return nil, fmt.Errorf("gatehouse migrate: %v\n%s", err, out)
	}
	if out, err := c.Run(ctx, c.AdminPassword+"\n", "user", "add", c.AdminEmail, "--role", "admin"); err != nil {
		return nil, fmt.Errorf("gatehouse user add: %v\n%s", err, out)
	}
	for i := range cfg.Instances {
		port, err := FreePort()
		if err != nil {
			c.Close()
			return nil, err
		}
		name := string(rune('A' + i))
		addr := "127.0.0.1:" + strconv.Itoa(port)
		args := append([]string{"serve", "--addr", addr}, c.commonFlags()...)
		args = append(args, ServeFlags...)
		// Every instance keeps the default --public-url: it is the token
		// issuer, and must be the same everywhere (as behind one proxy).
		args = append(args, cfg.Extra...)
		c.Instances = append(c.Instances, &Instance{
			Name: name, URL: "http://" + addr,
			proc: &proc{name: "gatehouse " + name, path: cfg.Bin, args: args, logPath: filepath.Join(cfg.Dir, "instance-"+name+".log")},
		})
	}
	errs := make(chan error, len(c.Instances))
	for _, in := range c.Instances {
		go func() { errs <- in.Start() }()
	}
	var all []error
	for range c.Instances {
		all = append(all, <-errs)
	}
	if err := errors.Join(all...); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// commonFlags are the store, cache and secret flags every command takes.
func (c *Cluster) commonFlags() []string {
	f := []string{"--store", c.Config.Store, "--secret-file", filepath.Join(c.Config.Dir, "gatehouse.secret"),
		"--password-memory-kib", "64", "--password-iterations", "1"}
	if c.Config.Cache != "" {
		f = append(f, "--cache", c.Config.Cache, "--cache-prefix", c.Config.CachePrefix)
	}
	return f
}

// Run runs a gatehouse admin command (migrate, user …) on the cluster's
// store, with stdin, and returns its combined output.
func (c *Cluster) Run(ctx context.Context, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	full := append(append([]string{}, args...), c.commonFlags()...)
	cmd := exec.CommandContext(ctx, c.Config.Bin, full...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Close stops every instance (SIGTERM, then SIGKILL) and reports failures.
func (c *Cluster) Close() error {
	var errs []error
	for _, in := range c.Instances {
		errs = append(errs, in.Stop())
	}
	return errors.Join(errs...)
}

// Start starts the instance (again, on the same address) and waits until
// /readyz answers 200.
func (in *Instance) Start() error {
	if err := in.proc.start(); err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	return waitFor(in.proc, 30*time.Second, func() error {
		resp, err := hc.Get(in.URL + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	})
}

// Kill ends the instance with SIGKILL (kill -9): no graceful shutdown.
func (in *Instance) Kill() error { return in.proc.stop(syscall.SIGKILL, 5*time.Second) }

// Stop ends the instance gracefully (SIGTERM), SIGKILL after 15s.
func (in *Instance) Stop() error { return in.proc.stop(syscall.SIGTERM, 15*time.Second) }

// Running reports whether the process is up.
func (in *Instance) Running() bool { return in.proc.running() }

// Pid is the process ID, or 0 before the first start.
func (in *Instance) Pid() int { return in.proc.pid() }

// LogPath is the instance's log file (JSON lines, warnings and errors).
func (in *Instance) LogPath() string { return in.proc.logPath }

// RandomHex returns n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// pgPing connects to url and runs SELECT 1.
func pgPing(ctx context.Context, url string) error {
	return pgExec(ctx, url, "SELECT 1")
}

// pgExec runs one statement on a fresh connection.
func pgExec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
