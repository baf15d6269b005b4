namespace Imle.Distributed

open System

/// The command line of a farm node: the Imle.SolverWorker app's, and that of any program that hosts a worker.
[<RequireQualifiedAccess>]
module FarmCommandLine =

    /// The environment variable that holds the certificate's password (kept off the command line).
    [<Literal>]
    let PasswordVariable = "IMLE_FARM_CERT_PASSWORD"

    /// The options, one a line.
    let usage =
        """  --host HOST         the address other nodes reach this one by (default 127.0.0.1; use the machine's IP on a cluster)
  --port PORT         the TCP port to listen on (default 0: any free port; seed nodes need a fixed one)
  --seed ADDRESS      a seed node (repeatable): akka.ssl.tcp://imle-farm@HOST:PORT with TLS, akka.tcp://… without;
                      none: this node starts a new cluster and is its seed
  --parallelism N     jobs solved at once (default: the number of cores)
  --system NAME       the actor system's name, the same on every node (default imle-farm)
  --cert FILE         this node's certificate: a .pfx (password in $IMLE_FARM_CERT_PASSWORD) or a PEM file
  --key FILE          the PEM private key of a PEM --cert
  --ca FILE           the cluster CA's certificate (PEM or DER): peers must present a certificate it signed
  --pin THUMBPRINT    accept only peers with this SHA-1 certificate thumbprint (repeatable; with or without --ca)
  --insecure          allow plain TCP on an address other than loopback (no TLS: anyone who reaches the port can join)"""

    type private Parsed =
        { Node: FarmNodeOptions
          Parallelism: int
          Cert: string
          Key: string
          Ca: string
          Pins: string list }

    /// Node options and the worker's parallelism from `args`, starting from `defaults` and `parallelism`. TLS is on
    /// when --cert is given (then --ca or --pin is needed); ArgumentException naming the argument for a bad one.
    let parse (defaults: FarmNodeOptions) (parallelism: int) (args: string list) : FarmNodeOptions * int =
        let int' (name: string) (v: string) =
            match Int32.TryParse v with
            | true, n -> n
            | _ -> invalidArg name (sprintf "%s must be an integer; got '%s'." name v)

        let rec go (p: Parsed) (args: string list) =
            match args with
            | [] -> p
            | "--host" :: v :: rest -> go { p with Node.Host = v } rest
            | "--port" :: v :: rest -> go { p with Node.Port = int' "--port" v } rest
            | "--seed" :: v :: rest ->
                go
                    { p with
                        Node.Seeds = p.Node.Seeds @ [ v ] }
                    rest
            | "--parallelism" :: v :: rest ->
                go
                    { p with
                        Parallelism = int' "--parallelism" v }
                    rest
            | "--system" :: v :: rest -> go { p with Node.SystemName = v } rest
            | "--cert" :: v :: rest -> go { p with Cert = v } rest
            | "--key" :: v :: rest -> go { p with Key = v } rest
            | "--ca" :: v :: rest -> go { p with Ca = v } rest
            | "--pin" :: v :: rest -> go { p with Pins = p.Pins @ [ v ] } rest
            | "--insecure" :: rest -> go { p with Node.Insecure = true } rest
            | a :: _ -> invalidArg "args" (sprintf "Unknown or incomplete argument '%s'." a)

        let p =
            go
                { Node = defaults
                  Parallelism = parallelism
                  Cert = ""
                  Key = ""
                  Ca = ""
                  Pins = [] }
                args

        let tls =
            if p.Cert = "" then
                if p.Key <> "" || p.Ca <> "" || not p.Pins.IsEmpty then
                    invalidArg "--cert" "--key, --ca and --pin need --cert (this node's certificate)."

                defaults.Tls
            else
                if p.Ca = "" && p.Pins.IsEmpty then
                    invalidArg "--ca" "--cert needs --ca (the cluster CA's certificate) or --pin (peer thumbprints)."

                Some
                    { Certificate = p.Cert
                      Key = p.Key
                      Password =
                        match Environment.GetEnvironmentVariable PasswordVariable with
                        | null -> ""
                        | pw -> pw
                      CaCertificate = p.Ca
                      PinnedThumbprints = p.Pins }

        { p.Node with Tls = tls }, p.Parallelism
