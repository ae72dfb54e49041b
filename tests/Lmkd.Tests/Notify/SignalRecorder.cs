using System.Collections.Concurrent;
using System.Diagnostics;
using Lmkd.Notify;
using Tmds.DBus.Protocol;

namespace Lmkd.Tests.Notify;

/// <summary>One org.lmkd.Lmkd1.ProcessKilled signal as a subscriber reads it, argument by argument in the documented order.</summary>
public sealed record KillSignal(string Sender, string Path, string Signature, ulong KillId, bool DryRun, uint Pid, string Comm, uint Uid,
    string Cgroup, string Exe, int OomScoreAdj, ulong RssBytes, ulong RssAnonBytes, ulong RssFileBytes, ulong RssShmemBytes, ulong SwapBytes,
    string Reason, int MinScoreAdj, string ReapMode, string ReapResult, string Scope, ulong TimeUsec, int ExtraCount);

/// <summary>One net.nuetzlich.SystemNotifications.Notify signal, as systembus-notify reads it.</summary>
public sealed record DesktopSignal(string Sender, string Path, string Signature, string Summary, string Body);

/// <summary>
/// A subscriber on a bus, as a desktop helper or a supervisor would be: it matches the two signals by
/// interface and member (not by sender: Lmkd has only a unique name) and keeps what it received.
/// </summary>
public sealed class SignalRecorder : IDisposable
{
    private readonly DBusConnection _bus;
    public ConcurrentQueue<KillSignal> Kills { get; } = new();
    public ConcurrentQueue<DesktopSignal> Desktop { get; } = new();

    private SignalRecorder(DBusConnection bus) => _bus = bus;

    /// <summary>Dispose it before the test method returns: xunit waits for a test's pending asynchronous work before the test class's Dispose.</summary>
    public static SignalRecorder Start(string address)
    {
        var bus = new DBusConnection(address);
        Assert.True(bus.ConnectAsync().AsTask().Wait(TimeSpan.FromSeconds(10)), "the recorder could not connect to " + address);
        var r = new SignalRecorder(bus);
        bus.AddMatchAsync(new MatchRule { Type = MessageType.Signal, Interface = KillSignals.Interface, Member = KillSignals.Member },
            static (m, _) => ReadKill(m), n => { if (n.HasValue) r.Kills.Enqueue(n.Value); }, emitOnCapturedContext: false)
            .AsTask().Wait(TimeSpan.FromSeconds(10));
        bus.AddMatchAsync(new MatchRule { Type = MessageType.Signal, Interface = KillSignals.DesktopInterface, Member = KillSignals.DesktopMember },
            static (m, _) => ReadDesktop(m), n => { if (n.HasValue) r.Desktop.Enqueue(n.Value); }, emitOnCapturedContext: false)
            .AsTask().Wait(TimeSpan.FromSeconds(10));
        return r;
    }

    private static KillSignal ReadKill(Message m)
    {
        var b = m.GetBodyReader();
        var k = new KillSignal(m.SenderAsString ?? "", m.PathAsString ?? "", m.SignatureAsString ?? "",
            b.ReadUInt64(), b.ReadBool(), b.ReadUInt32(), b.ReadString(), b.ReadUInt32(), b.ReadString(), b.ReadString(), b.ReadInt32(),
            b.ReadUInt64(), b.ReadUInt64(), b.ReadUInt64(), b.ReadUInt64(), b.ReadUInt64(),
            b.ReadString(), b.ReadInt32(), b.ReadString(), b.ReadString(), b.ReadString(), b.ReadUInt64(), 0);
        return k with { ExtraCount = b.ReadDictionaryOfStringToVariantValue().Count };
    }

    private static DesktopSignal ReadDesktop(Message m)
    {
        var b = m.GetBodyReader();
        return new DesktopSignal(m.SenderAsString ?? "", m.PathAsString ?? "", m.SignatureAsString ?? "", b.ReadString(), b.ReadString());
    }

    public bool WaitFor(Func<SignalRecorder, bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!condition(this) && sw.Elapsed < timeout)
            Thread.Sleep(20);
        return condition(this);
    }

    /// <summary>The pid behind a connection, as the bus knows it from the socket's credentials.</summary>
    public uint PidOf(string uniqueName)
    {
        using var w = _bus.GetMessageWriter();
        w.WriteMethodCallHeader("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetConnectionUnixProcessID", "s", MessageFlags.None);
        w.WriteString(uniqueName);
        var call = _bus.CallMethodAsync(w.CreateMessage(), static (m, _) => m.GetBodyReader().ReadUInt32(), null);
        Assert.True(call.Wait(TimeSpan.FromSeconds(10)));
        return call.Result;
    }

    /// <summary>Every name on the bus, unique and well-known.</summary>
    public string[] ListNames()
    {
        using var w = _bus.GetMessageWriter();
        w.WriteMethodCallHeader("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "ListNames", null, MessageFlags.None);
        var call = _bus.CallMethodAsync(w.CreateMessage(), static (m, _) => m.GetBodyReader().ReadArrayOfString(), null);
        Assert.True(call.Wait(TimeSpan.FromSeconds(10)));
        return call.Result;
    }

    public void Dispose() => _bus.Dispose();
}
