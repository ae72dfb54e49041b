using Lmkd.Configuration;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Formatting.Compact;

namespace Lmkd.Hosting;

/// <summary>
/// Serilog configured in code from Lmkd's own options. Serilog.Settings.Configuration is avoided on
/// purpose: it binds by reflection, and under Native AOT it then logs nothing at all, silently.
/// </summary>
public static class LogSetup
{
    /// <summary>The switch a reload turns: level changes apply without rebuilding the logger.</summary>
    public static readonly LoggingLevelSwitch Level = new(LogEventLevel.Information);

    public static bool TryParseLevel(string? name, out LogEventLevel level) =>
        Enum.TryParse(name, ignoreCase: true, out level) && Enum.IsDefined(level);

    /// <summary>
    /// The daemon's logger: every sink call goes through a <see cref="QueuedLogSink"/>, so a stalled
    /// journal never blocks the monitor thread. Disposing the logger flushes it, bounded.
    /// </summary>
    public static Logger Create(LogOptions options)
    {
        if (TryParseLevel(options.Level, out var level))
            Level.MinimumLevel = level;
        var format = options.Format == "auto"
            ? (Environment.GetEnvironmentVariable("JOURNAL_STREAM") is { Length: > 0 } ? "journal" : "console")
            : options.Format;

        ITextFormatter formatter = format switch
        {
            "json" => new CompactJsonFormatter(),
            "journal" => new JournalFormatter(),
            _ => new Serilog.Formatting.Display.MessageTemplateTextFormatter(
                "{Timestamp:HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}"),
        };
        var config = new LoggerConfiguration()
            .MinimumLevel.ControlledBy(Level)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            .Enrich.FromLogContext();
        // stdout written only by the sink's own thread, through a buffer flushed after each batch:
        // Console.Out would lock and flush on every write, on the caller's thread.
        var stdout = new StreamWriter(Console.OpenStandardOutput(), new System.Text.UTF8Encoding(false), 16 * 1024) { AutoFlush = false };
        Current = new QueuedLogSink(formatter, stdout);
        return config.WriteTo.Sink(Current).CreateLogger();
    }

    /// <summary>The daemon's log queue (its drop counters feed the metrics), once <see cref="Create"/> ran.</summary>
    public static QueuedLogSink? Current { get; private set; }

    /// <summary>
    /// One line per event with a syslog priority prefix ("&lt;3&gt;" for errors...), which journald
    /// reads from a service's stdout; the journal adds its own timestamp. Properties that are not
    /// in the message follow as key=value so a kill event stays searchable in journalctl.
    /// </summary>
    private sealed class JournalFormatter : ITextFormatter
    {
        private readonly Serilog.Formatting.Display.MessageTemplateTextFormatter _message = new("{Message:lj}");

        public void Format(LogEvent e, TextWriter output)
        {
            int priority = e.Level switch
            {
                LogEventLevel.Fatal => 2,
                LogEventLevel.Error => 3,
                LogEventLevel.Warning => 4,
                LogEventLevel.Information => 6,
                _ => 7,
            };
            output.Write('<');
            output.Write(priority);
            output.Write('>');
            _message.Format(e, output);
            if (e.Exception is not null)
            {
                output.Write(' ');
                output.Write(e.Exception.ToString().Replace('\n', ' '));
            }
            output.WriteLine();
        }
    }
}
