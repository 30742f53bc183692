package admission

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// The budget periods.
const (
	periodDay   = "day"
	periodWeek  = "week"
	periodMonth = "month"
	periodTotal = "total"
)

// budget is a key's or a team's budget at run time; a team's is shared by
// the pointer of every key in it.
type budget struct {
	kind, name string // "key" or "team", and its name
	limit      int64  // µUSD
	period     string
}

// micro is usd in whole millionths (µUSD), the unit budgets count in:
// exact sums, and Redis's integers.
func micro(usd float64) int64 { return int64(math.Ceil(usd * 1e6)) }

// periodOf names the period of kind holding now (UTC) and when it ends
// (zero for total).
func periodOf(kind string, now time.Time) (id string, end time.Time) {
	now = now.UTC()
	y, m, d := now.Date()
	switch kind {
	case periodDay:
		start := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return start.Format("2006-01-02"), start.AddDate(0, 0, 1)
	case periodWeek:
		wy, w := now.ISOWeek()
		start := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -((int(now.Weekday()) + 6) % 7))
		return fmt.Sprintf("%d-W%02d", wy, w), start.AddDate(0, 0, 7)
	case periodMonth:
		start := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
		return start.Format("2006-01"), start.AddDate(0, 1, 0)
	}
	return periodTotal, time.Time{}
}

// account names b's count for the period holding now.
func (b *budget) account(now time.Time) (id string, end time.Time) {
	p, end := periodOf(b.period, now)
	return b.kind + ":" + b.name + ":" + p, end
}

// BudgetError is a refusal by a key's or its team's budget.
type BudgetError struct {
	Key string // the key's name
	// Kind is "key" or "team", Name the budget's owner.
	Kind, Name string
	Period     string // the period's name: 2026-12-01, 2026-W49, 2026-12, total
	Budget     float64
	Spent      float64 // settled in the period
	Held       float64 // held by requests in progress
	// RetryAfter is until the period ends; 0 for a total budget.
	RetryAfter time.Duration
}

func (e *BudgetError) Error() string {
	owner := "key " + e.Key + "'s"
	if e.Kind == "team" {
		owner = "team " + e.Name + "'s (key " + e.Key + ")"
	}
	msg := fmt.Sprintf("%s budget of $%.2f for %s is spent: $%.4f spent, $%.4f held by requests in progress",
		owner, e.Budget, e.Period, e.Spent, e.Held)
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf("; it renews in %v", e.RetryAfter.Round(time.Second))
	}
	return msg
}

func budgetError(k *Key, b *budget, account string, now, end time.Time, spent, held int64) *BudgetError {
	e := &BudgetError{Key: k.name, Kind: b.kind, Name: b.name, Period: account[len(b.kind)+len(b.name)+2:],
		Budget: float64(b.limit) / 1e6, Spent: float64(spent) / 1e6, Held: float64(held) / 1e6}
	if !end.IsZero() {
		e.RetryAfter = end.Sub(now)
	}
	return e
}

// Hold is the worst-case cost of one request held against its key's
// budgets until it is settled.
type Hold struct {
	amount   int64    // µUSD held
	accounts []string // the budgets' accounts, for the period the hold was taken in
	ends     []time.Time
	member   string // the hold in Redis, "" for none
	id       string // names the hold and its settlement (Redis)
	local    bool   // taken from the replica's share while Redis failed
	store    settler
	settled  atomic.Bool
}

type settler interface {
	settle(h *Hold, spent int64)
}

// Settle replaces the hold by what the request cost (usd, the real cost
// from its usage or its estimate); later calls do nothing. A nil Hold (a
// key without budgets) settles nothing.
func (h *Hold) Settle(usd float64) {
	if h == nil || !h.settled.CompareAndSwap(false, true) {
		return
	}
	h.store.settle(h, micro(max(0, usd)))
}

// Spending is one budget's state in its current period.
type Spending struct {
	Kind   string    `json:"kind"` // key or team
	Name   string    `json:"name"`
	Period string    `json:"period"`
	Budget float64   `json:"budget_usd"`
	Spent  float64   `json:"spent_usd"`
	Held   float64   `json:"reserved_usd"`
	Resets time.Time `json:"resets_at,omitzero"`
}

// budgets lists every budget of the keyring once (a team's once for all
// its keys).
func (r *Keyring) budgets() []*budget {
	var out []*budget
	seen := map[*budget]bool{}
	for _, k := range r.keys {
		for _, b := range k.budgets {
			if !seen[b] {
				seen[b] = true
				out = append(out, b)
			}
		}
	}
	for _, b := range r.teams {
		if !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	return out
}

// spending is b's state from its account's counts.
func spending(b *budget, now time.Time, spent, held int64) Spending {
	id, end := b.account(now)
	return Spending{Kind: b.kind, Name: b.name, Period: id[len(b.kind)+len(b.name)+2:], Budget: float64(b.limit) / 1e6,
		Spent: float64(spent) / 1e6, Held: float64(held) / 1e6, Resets: end}
}

// memoryReserve and memorySettle are the memory store's budgets.
func (m *memory) Reserve(_ context.Context, k *Key, usd float64) (*Hold, error) {
	if len(k.budgets) == 0 {
		return nil, nil
	}
	now, amount := time.Now(), micro(usd)
	h := &Hold{amount: amount, store: m}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range k.budgets {
		id, end := b.account(now)
		a := m.accounts[id]
		if a.spent+a.held+amount > b.limit {
			return nil, budgetError(k, b, id, now, end, a.spent, a.held)
		}
		h.accounts = append(h.accounts, id)
	}
	for _, id := range h.accounts {
		a := m.accounts[id]
		a.held += amount
		m.accounts[id] = a
	}
	return h, nil
}

func (m *memory) settle(h *Hold, spent int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range h.accounts {
		a := m.accounts[id]
		a.held -= h.amount
		a.spent += spent
		m.accounts[id] = a
	}
}

// Spending implements Store.
func (m *memory) Spending(_ context.Context, r *Keyring) ([]Spending, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Spending
	for _, b := range r.budgets() {
		id, _ := b.account(now)
		a := m.accounts[id]
		out = append(out, spending(b, now, a.spent, a.held))
	}
	return out, nil
}

// account is a budget's count in one period, µUSD.
type account struct{ spent, held int64 }
