using System.Globalization;
using Lmkd.Daemon;
using Tmds.DBus.Protocol;

namespace Lmkd.Notify;

/// <summary>
/// The two D-Bus signals a kill produces, as documented in the README ("Kill notifications"): a public
/// API, so the names, the order of the arguments and their types never change. A field added later
/// goes into the trailing a{sv} map; anything else would be a new interface, org.lmkd.Lmkd2.
/// </summary>
public static class KillSignals
{
    public const string Path = "/org/lmkd/Lmkd1";
    public const string Interface = "org.lmkd.Lmkd1";
    public const string Member = "ProcessKilled";
    /// <summary>
    /// kill_id t, dry_run b, pid u, comm s, uid u, cgroup s, exe s, oom_score_adj i, rss_bytes t,
    /// rss_anon_bytes t, rss_file_bytes t, rss_shmem_bytes t, swap_bytes t, reason s, min_score_adj i,
    /// reap_mode s, reap_result s, scope s, time_usec t, extra a{sv}.
    /// </summary>
    public const string Signature = "tbusussitttttsissst" + "a{sv}";

    /// <summary>earlyoom -n sends this (with dbus-send); systembus-notify turns it into a desktop notification.</summary>
    public const string DesktopPath = "/";
    public const string DesktopInterface = "net.nuetzlich.SystemNotifications";
    public const string DesktopMember = "Notify";
    /// <summary>summary s, body s.</summary>
    public const string DesktopSignature = "ss";
    public const string DesktopSummary = "Lmkd: low memory";

    /// <summary>Broadcast (no destination): a signal needs no well-known name, so the unit's DynamicUser= needs no bus policy.</summary>
    public static MessageBuffer ProcessKilled(MessageWriter writer, FinishedKill k)
    {
        writer.WriteSignalHeader(null, Path, Interface, Member, Signature);
        writer.WriteUInt64((ulong)k.KillId);
        writer.WriteBool(k.DryRun);
        writer.WriteUInt32((uint)k.Pid);
        writer.WriteString(k.Comm);
        writer.WriteUInt32(k.Uid);
        writer.WriteString(k.Cgroup);
        writer.WriteString(k.Exe);
        writer.WriteInt32(k.OomScoreAdj);
        writer.WriteUInt64((ulong)k.RssBytes);
        writer.WriteUInt64((ulong)k.RssAnonBytes);
        writer.WriteUInt64((ulong)k.RssFileBytes);
        writer.WriteUInt64((ulong)k.RssShmemBytes);
        writer.WriteUInt64((ulong)k.SwapBytes);
        writer.WriteString(k.Reason);
        writer.WriteInt32(k.MinScoreAdj);
        writer.WriteString(k.ReapMode);
        writer.WriteString(k.ReapResult);
        writer.WriteString(k.Scope);
        writer.WriteUInt64((ulong)(k.Time - DateTimeOffset.UnixEpoch).Ticks / 10);
        // Empty today: where fields added later go, without changing the signature.
        var extra = writer.WriteDictionaryStart();
        writer.WriteDictionaryEnd(extra);
        return writer.CreateMessage();
    }

    public static MessageBuffer Desktop(MessageWriter writer, string summary, string body)
    {
        writer.WriteSignalHeader(null, DesktopPath, DesktopInterface, DesktopMember, DesktopSignature);
        writer.WriteString(summary);
        writer.WriteString(body);
        return writer.CreateMessage();
    }

    /// <summary>What a desktop user reads; <paramref name="notShown"/> kills were held back by the rate limit since the last one.</summary>
    public static string DesktopBody(FinishedKill k, int notShown)
    {
        string size = FormatBytes(k.RssBytes + k.SwapBytes);
        string body = k.DryRun
            ? $"Would kill process {k.Pid} ({k.Comm}) of uid {k.Uid}, {size} (dry run: nothing was killed)"
            : $"Killed process {k.Pid} ({k.Comm}) of uid {k.Uid}, {size}";
        return notShown == 0 ? body : body + string.Create(CultureInfo.InvariantCulture,
            $"; {notShown} more {(notShown == 1 ? "kill" : "kills")} since the last notification");
    }

    private static string FormatBytes(long bytes) => bytes >= 1L << 30
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):F1} GiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes >> 20} MiB");
}
