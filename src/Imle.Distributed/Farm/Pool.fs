namespace Imle.Distributed

open System.Collections.Generic
open System.Threading
open System.Threading.Tasks
open Akka.Actor
open Akka.Cluster

/// A reachable worker and the jobs it has in flight.
type internal WorkerSlot(address: Address, target: ActorSelection) =
    let lost = new CancellationTokenSource()
    member val InFlight = 0 with get, set
    member _.Address = address
    member _.Target = target
    member _.Lost = lost

/// The reachable workers, with bounded jobs in flight each; waiters are woken on every change. A banned worker (one
/// that answered with a state that does not fit the problem) is removed and never added again.
type internal WorkerPool(maxInFlight: int) =
    let slots = Dictionary<Address, WorkerSlot>()
    let banned = HashSet<Address>()

    let mutable changed =
        TaskCompletionSource<unit>(TaskCreationOptions.RunContinuationsAsynchronously)

    let signal () =
        let old = changed
        changed <- TaskCompletionSource<unit>(TaskCreationOptions.RunContinuationsAsynchronously)
        old.TrySetResult() |> ignore

    let remove (address: Address) =
        match slots.TryGetValue address with
        | true, s ->
            slots.Remove address |> ignore
            s.Lost.Cancel()
            signal ()
        | _ -> ()

    member _.Count = lock slots (fun () -> slots.Count)

    member _.Add(address: Address, target: ActorSelection) =
        lock slots (fun () ->
            if not (slots.ContainsKey address) && not (banned.Contains address) then
                slots.[address] <- WorkerSlot(address, target)
                signal ())

    member _.Remove(address: Address) = lock slots (fun () -> remove address)

    /// Removes the worker for good (its jobs in flight are sent elsewhere).
    member _.Ban(address: Address) =
        lock slots (fun () ->
            banned.Add address |> ignore
            remove address)

    /// A slot with room, the least loaded one; otherwise the task to wait on (Choice2Of3: all busy, Choice3Of3: none).
    member _.TryAcquire() : Choice<WorkerSlot, Task, Task> =
        lock slots (fun () ->
            let free =
                slots.Values |> Seq.filter (fun s -> s.InFlight < maxInFlight) |> Seq.toList

            match free with
            | [] ->
                if slots.Count = 0 then
                    Choice3Of3 changed.Task
                else
                    Choice2Of3 changed.Task
            | _ ->
                let s = free |> List.minBy (fun s -> s.InFlight)
                s.InFlight <- s.InFlight + 1
                Choice1Of3 s)

    member _.Release(slot: WorkerSlot) =
        lock slots (fun () ->
            slot.InFlight <- slot.InFlight - 1
            signal ())

/// Keeps the pool in step with the cluster: solver members that are up and reachable are in it.
type internal MembershipActor(pool: WorkerPool, system: ActorSystem) =
    inherit UntypedActor()
    let cluster = Cluster.Get system

    let add (m: Member) =
        if m.HasRole "solver" && m.Status = MemberStatus.Up then
            pool.Add(m.Address, system.ActorSelection(m.Address.ToString() + "/user/" + FarmConfig.actorName))

    override this.PreStart() =
        cluster.Subscribe(
            this.Self,
            ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            [| typeof<ClusterEvent.IMemberEvent>; typeof<ClusterEvent.IReachabilityEvent> |]
        )

    override this.PostStop() = cluster.Unsubscribe this.Self

    override _.OnReceive(message: obj) =
        match message with
        | :? ClusterEvent.MemberUp as e -> add e.Member
        | :? ClusterEvent.ReachableMember as e -> add e.Member
        | :? ClusterEvent.UnreachableMember as e -> pool.Remove e.Member.Address
        | :? ClusterEvent.MemberRemoved as e -> pool.Remove e.Member.Address
        | :? ClusterEvent.MemberExited as e -> pool.Remove e.Member.Address
        | :? ClusterEvent.MemberLeft as e -> pool.Remove e.Member.Address
        | _ -> ()
