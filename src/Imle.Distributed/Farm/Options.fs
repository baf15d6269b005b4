namespace Imle.Distributed

open System

/// A node's TLS identity and the peers it trusts (mutual authentication: every node presents its certificate and
/// checks the other side's). Certificates are X.509: a PFX/PKCS#12 file with its key, or a PEM certificate with a PEM
/// key file. Peers are trusted when their certificate chains to `CaCertificate` (the cluster's own CA; the system's
/// trust store plays no part), and, when `PinnedThumbprints` is not empty, when their SHA-1 thumbprint is listed.
type FarmTls =
    {
        /// This node's certificate: a .pfx/.p12 file (with its key), or a PEM file (then `Key` names the PEM key).
        Certificate: string
        /// The PEM private key of a PEM `Certificate`; empty for a PFX.
        Key: string
        /// The PFX's password (or the encrypted PEM key's); empty for none.
        Password: string
        /// The cluster CA's certificate (PEM or DER) that every peer's certificate must chain to; empty to trust only
        /// `PinnedThumbprints`.
        CaCertificate: string
        /// Hex SHA-1 thumbprints of the only peer certificates accepted (in addition to the CA check); empty: any
        /// certificate the CA signed.
        PinnedThumbprints: string list
    }

    /// A node certificate (PFX, or PEM with `key`) trusted through the cluster CA `ca`.
    static member Create(certificate: string, key: string, ca: string) =
        { Certificate = certificate
          Key = key
          Password = ""
          CaCertificate = ca
          PinnedThumbprints = [] }

/// Settings of a farm node (worker or client).
type FarmNodeOptions =
    {
        /// The Akka.NET actor system's name; all nodes of a farm use the same (default "imle-farm").
        SystemName: string
        /// The host name or IP address this node listens on and other nodes reach it by (default 127.0.0.1).
        Host: string
        /// The TCP port this node listens on; 0 picks a free one (default 0). Seed nodes need fixed ports.
        Port: int
        /// The seed nodes' addresses: "akka.ssl.tcp://imle-farm@10.0.0.1:4053" with TLS, "akka.tcp://…" without.
        /// Empty: this node is the first node of a new cluster (it seeds itself).
        Seeds: string list
        /// TLS with mutual certificate authentication (see `FarmTls`). Required unless `Host` is a loopback address
        /// or `Insecure` is set; None (default) is plain TCP.
        Tls: FarmTls option
        /// Allows plain TCP (no TLS, no authentication) on an address other than loopback: anyone who reaches the
        /// port can then join, read the problems and answer them. Default false.
        Insecure: bool
    }

    /// SystemName "imle-farm", Host 127.0.0.1, Port 0, no seeds, no TLS (loopback only), not insecure.
    static member Default =
        { SystemName = "imle-farm"
          Host = "127.0.0.1"
          Port = 0
          Seeds = []
          Tls = None
          Insecure = false }

    /// The address scheme of this node's transport: "akka.ssl.tcp" with TLS, "akka.tcp" without.
    member this.Scheme = if this.Tls.IsSome then "akka.ssl.tcp" else "akka.tcp"

/// How a client farms jobs out.
type SolverFarmOptions =
    {
        /// This node's settings.
        Node: FarmNodeOptions
        /// Jobs in flight per worker at most (back-pressure); ≥ 1 (default 4).
        MaxInFlightPerWorker: int
        /// How long one attempt waits for a worker's answer before the job is sent again (default 30 s).
        AskTimeout: TimeSpan
        /// Deliveries per job at most (first one included); ≥ 1 (default 5).
        MaxAttempts: int
        /// How long a job waits for some worker to be reachable before the farm gives up (or solves locally, with
        /// `FallbackToLocal`) (default 30 s).
        WorkerDeadline: TimeSpan
        /// Solve a job on this machine when no worker is reachable within `WorkerDeadline` or every attempt failed.
        FallbackToLocal: bool
        /// The problems by name; the workers must use the same catalog (default `FarmProblems.builtIn`).
        Catalog: FarmCatalog
    }

    /// Defaults: see each field.
    static member Default =
        { Node = FarmNodeOptions.Default
          MaxInFlightPerWorker = 4
          AskTimeout = TimeSpan.FromSeconds 30.0
          MaxAttempts = 5
          WorkerDeadline = TimeSpan.FromSeconds 30.0
          FallbackToLocal = false
          Catalog = FarmProblems.builtIn }

/// Raised when no solver worker is reachable within the deadline (and local fallback is off).
type SolverFarmUnavailableException(message: string) =
    inherit Exception(message)

/// Counters of a farm client (since it connected).
type FarmStats =
    {
        /// Jobs completed (each counted once, however many deliveries it took).
        Completed: int64
        /// Deliveries sent (first attempts and retries).
        Attempts: int64
        /// Retries (deliveries after a timeout, a lost worker or a rejected answer).
        Retries: int64
        /// Jobs solved locally (fallback).
        LocalFallbacks: int64
        /// Answers rejected because the state did not fit the problem (wrong indices, infeasible); each one's worker
        /// is no longer used by this client.
        Rejected: int64
    }
