/* perf_train.c: joules and seconds of in-memory training (backend/backend.h,
 * docs/perf.md 9, docs/train.md 6).
 *
 * `xbarc train` counts its events (TrainCounters); this prices them with the
 * inference model's figures (PerfParams, backend/perf.c, each with its
 * source) and the device's own pulse energy and duration:
 *   - a read (forward, or transposed in the backward pass): every cell of the
 *     block read once (cell_pj), every line driven (dac_pj), every line
 *     sampled (sh_pj), every conversion at its bits (perf_adc_pj); a layer's
 *     blocks read in parallel, each read step read_ns plus cols_per_adc
 *     conversions one after another on its shared ADC (perf_adc_ns), as the
 *     inference model times an mvm step;
 *   - the update: pulse_pj per pulse on a device; the phases (Gokmen and
 *     Vlasov 2016's parallel update: all devices of an array pulsed at once,
 *     BL slots of pulse_ns) one after another, update_slots of them;
 *   - digital ops (digital_pj each, digital_gops per ns) and buffer bytes
 *     (buffer_pj_per_byte).
 * The phases do not overlap: the time is an upper bound for one chip doing
 * one image at a time. */
#include "backend/backend.h"

#include <math.h>

void perf_train_cost(const PerfParams *params, double pulse_pj, double pulse_ns, const TrainCounters *c,
                     TrainCost *cost)
{
    *cost = (TrainCost){0};
    for (int d = 0; d < 2; d++) {
        cost->read_pj[d] = (double)c->cells[d] * params->cell_pj + (double)c->drives[d] * params->dac_pj;
        for (int b = 0; b <= TRAIN_MAX_ADC_BITS; b++) {
            double conversions = (double)c->conversions[d][b];
            cost->read_pj[d] += conversions * params->sh_pj;
            cost->adc_pj[d] += conversions * perf_adc_pj(params, b);
            cost->read_ns[d] += (double)c->read_turns[d][b] * perf_adc_ns(params, b);
        }
        cost->read_ns[d] += (double)c->read_steps[d] * params->read_ns;
    }
    cost->pulse_pj = (double)c->pulses * pulse_pj;
    cost->update_ns = (double)c->update_slots * pulse_ns;
    cost->digital_pj = (double)c->digital_ops * params->digital_pj;
    cost->digital_ns = params->digital_gops > 0 ? (double)c->digital_ops / params->digital_gops : 0;
    cost->buffer_pj = (double)c->buffer_bytes * params->buffer_pj_per_byte;
    cost->energy_pj = cost->read_pj[0] + cost->read_pj[1] + cost->adc_pj[0] + cost->adc_pj[1] + cost->pulse_pj +
                      cost->digital_pj + cost->buffer_pj;
    cost->time_ns = cost->read_ns[0] + cost->read_ns[1] + cost->update_ns + cost->digital_ns;
    cost->pj_per_step = c->steps ? cost->energy_pj / (double)c->steps : 0;
    cost->ns_per_step = c->steps ? cost->time_ns / (double)c->steps : 0;
}

double perf_train_epochs_to_wear(double endurance, double max_writes_per_epoch)
{
    return max_writes_per_epoch > 0 ? endurance / max_writes_per_epoch : INFINITY;
}
