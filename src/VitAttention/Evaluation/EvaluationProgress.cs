namespace VitAttention.Evaluation;

/// <summary>Where a run stands, reported after each image.</summary>
/// <param name="Done">Images finished (failed ones included).</param>
/// <param name="Total">Images in the run.</param>
/// <param name="Elapsed">Time since the run started.</param>
/// <param name="Forwards">Images passed through the model so far (originals and perturbed copies).</param>
internal sealed record EvaluationProgress(int Done, int Total, TimeSpan Elapsed, long Forwards)
{
    /// <summary>The expected time left, at the average pace so far; null before the first image finishes.</summary>
    public TimeSpan? Remaining => Done > 0 ? Elapsed / Done * (Total - Done) : null;
}
