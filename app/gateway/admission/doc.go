// Package admission decides whether a client key's request may enter the
// gateway: the keys at run time (found by their hash in constant time,
// with the models they may use and their limits), and the stores that
// count those limits — in this process (memory) or shared by every replica
// on one Redis (redis) — behind one Store interface, built by Open. A Redis
// store also shares endpoints' configured rates across replicas (Store.For,
// an executor.SharedLimiter).
//
// Decisions are values, never HTTP: Admit returns a *Lease to End when the
// request is over, or a *LimitError (which limit, when to retry),
// ErrStoreUnavailable (on_store_error: deny while Redis fails) or the
// request ctx's error. The gateway maps them to its routes' formats.
//
// Concurrency slots in Redis are leases with a short TTL (lease_ttl,
// default 10s) that the store renews while their requests run: a replica
// that dies, or a release lost to a Redis failure, frees its slots within
// the TTL; releases that failed are retried when Redis answers again.
package admission
