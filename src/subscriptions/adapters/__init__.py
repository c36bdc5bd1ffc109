"""Adapters: the implementations of the ports (:mod:`subscriptions.ports`) that a host
plugs into :class:`~subscriptions.center.BillingCenter`.

Importing this package imports no optional dependency; each adapter is imported by its
module path:

==========================================  ==========================================
:mod:`subscriptions.adapters.memory`        :class:`InMemoryStore`, the transactional
                                            store of test suites and notebooks
:mod:`subscriptions.adapters.fakes`         :class:`FakeGateway`, :class:`FakeVatVerifier`,
                                            :class:`InMemoryNotifier`, :class:`ManualClock`
:mod:`subscriptions.adapters.journal`       :class:`FileJournal`, the fakes' durable
                                            memory across processes
:mod:`subscriptions.adapters.clock`         :class:`SystemClock`, the real time
:mod:`subscriptions.adapters.vies`          :class:`ViesVerifier`, VAT numbers checked
                                            with VIES (extra ``vies``)
:mod:`subscriptions.adapters.sqlite`        :class:`SQLiteStore` (standard library)
:mod:`subscriptions.adapters.postgres`      :class:`PostgresStore` (extra ``postgres``)
:mod:`subscriptions.adapters.sql`           the SQL stores' common unit of work
:mod:`subscriptions.adapters.codec`         records to JSON documents and back
:mod:`subscriptions.adapters.migrations`    the numbered schema migrations
==========================================  ==========================================
"""
