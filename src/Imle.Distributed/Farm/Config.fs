namespace Imle.Distributed

open System
open System.Net
open Akka.Actor
open Akka.Actor.Setup
open Akka.Cluster
open Akka.Configuration

/// A node's validated settings, its HOCON, and starting its actor system.
module internal FarmConfig =
    let actorName = "imle-solver"

    let private quote (s: string) = "\"" + s.Replace("\"", "") + "\""

    /// Whether `host` is a loopback name or address (127.0.0.0/8, ::1, localhost).
    let isLoopback (host: string) =
        match IPAddress.TryParse host with
        | true, ip -> IPAddress.IsLoopback ip
        | _ -> String.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)

    let validate (o: FarmNodeOptions) =
        if String.IsNullOrWhiteSpace o.SystemName then
            invalidArg "SystemName" "SystemName must be a non-empty actor system name."

        if String.IsNullOrWhiteSpace o.Host then
            invalidArg "Host" "Host must be a host name or IP address."

        if o.Port < 0 || o.Port > 65535 then
            invalidArg "Port" (sprintf "Port must be in [0, 65535]; got %d." o.Port)

        if isNull (box o.Seeds) then
            nullArg "Seeds"

        if o.Tls.IsNone && not o.Insecure && not (isLoopback o.Host) then
            invalidArg
                "Tls"
                (sprintf
                    "Host '%s' is not a loopback address, so the farm needs TLS there: give this node its certificate and key and the cluster CA (Tls; the worker's --cert, --key, --ca), or set Insecure (--insecure) to accept plain TCP, where anyone who reaches the port can join the farm, read its problems and answer them."
                    o.Host)

        let prefix = o.Scheme + "://" + o.SystemName + "@"

        for s in o.Seeds do
            if isNull s || not (s.StartsWith prefix) then
                invalidArg
                    "Seeds"
                    (sprintf
                        "Seed '%s' must have the form %sHOST:PORT (the same system name; %s)."
                        s
                        prefix
                        (if o.Tls.IsSome then
                             "akka.ssl.tcp with TLS"
                         else
                             "akka.tcp without TLS"))

    /// HOCON for a cluster node with the given role.
    let hocon (o: FarmNodeOptions) (role: string) =
        let seeds = String.Join(", ", o.Seeds |> List.map quote)

        sprintf
            """
akka {
  loglevel = WARNING
  stdout-loglevel = WARNING
  log-dead-letters = off
  log-dead-letters-during-shutdown = off
  actor {
    provider = cluster
    serializers { imle-farm = "Imle.Distributed.FarmSerializer, Imle.Distributed" }
    serialization-bindings {
      "Imle.Distributed.SolveJob, Imle.Distributed" = imle-farm
      "Imle.Distributed.SolveResult, Imle.Distributed" = imle-farm
    }
  }
  remote {
    log-remote-lifecycle-events = off
    dot-netty.tcp {
      hostname = %s
      port = %d
      enable-ssl = %s
      maximum-frame-size = %db
    }
  }
  cluster {
    roles = [%s]
    seed-nodes = [%s]
    log-info = off
    failure-detector { heartbeat-interval = 1s, acceptable-heartbeat-pause = 3s }
    downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
    split-brain-resolver {
      active-strategy = keep-oldest
      stable-after = 5s
      keep-oldest { down-if-alone = on }
    }
  }
  coordinated-shutdown {
    run-by-clr-shutdown-hook = on
    phases { cluster-leave.timeout = 3s, cluster-exiting.timeout = 3s }
  }
}
"""
            (quote o.Host)
            o.Port
            (if o.Tls.IsSome then "on" else "off")
            FarmLimits.MaxFrameBytes
            role
            seeds

    /// Starts the actor system (with TLS when `Tls` is set) and joins the cluster (itself when there are no seeds).
    let start (o: FarmNodeOptions) (role: string) =
        validate o

        let bootstrap =
            BootstrapSetup.Create().WithConfig(ConfigurationFactory.ParseString(hocon o role))

        let setup =
            match o.Tls with
            | None -> ActorSystemSetup.Create(bootstrap)
            | Some tls -> ActorSystemSetup.Create(bootstrap, FarmCertificates.setup tls)

        let system = ActorSystem.Create(o.SystemName, setup)
        let cluster = Cluster.Get system

        if o.Seeds.IsEmpty then
            cluster.Join cluster.SelfAddress

        system, cluster
