// The sequential filter's step equations written once, over Eigen matrices whose capacity is a
// template parameter: predict, innovate, the Joseph-form update and the RTS backward step.
//
// kalman.hpp (predict, innovate, update) and rts.hpp (rts_step) run them on dynamic matrices
// (MaxN = MaxM = Eigen::Dynamic, i.e. VecX/MatX); the live service (apps/net) runs them on
// matrices of a capacity fixed at compile time, so that a steady stream allocates nothing. The
// caller owns a Workspace (scratch reused from call to call); nothing here allocates once the
// workspace and the outputs have reached their sizes with a fixed capacity.
//
// Conventions as in kalman.hpp: discrete, per-step Q; the measurement is already stacked
// (y = z − d over the measured components, H and R restricted to them); covariances are
// symmetrised after every step; solve, never invert.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>

namespace kalmanscan::filters::steps {

/// Vector and matrix types of state size ≤ MaxN and stacked measurement size ≤ MaxM
/// (Eigen::Dynamic: unbounded, on the heap).
template <class T, int MaxN = Eigen::Dynamic, int MaxM = Eigen::Dynamic>
struct Types {
  template <int MaxRows, int MaxCols>
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor, MaxRows, MaxCols>;
  using StateVec = Eigen::Matrix<T, Eigen::Dynamic, 1, Eigen::ColMajor, MaxN, 1>;
  using StateMat = Mat<MaxN, MaxN>;
  using MeasVec = Eigen::Matrix<T, Eigen::Dynamic, 1, Eigen::ColMajor, MaxM, 1>;
  using MeasMat = Mat<MaxM, MaxM>;
  using ObsMat = Mat<MaxM, MaxN>;   ///< H: m × n
  using GainMat = Mat<MaxN, MaxM>;  ///< K: n × m
};

/// Scratch of the steps below; after innovate() it holds ν, S, its LLT, H P⁻ and NIS.
template <class T, int MaxN = Eigen::Dynamic, int MaxM = Eigen::Dynamic>
struct Workspace {
  using Ty = Types<T, MaxN, MaxM>;
  typename Ty::MeasVec nu, w;
  typename Ty::MeasMat S;
  typename Ty::ObsMat HP;
  typename Ty::GainMat K, KR;
  typename Ty::StateMat IKH, nn, G, dP;
  typename Ty::StateVec dm;
  Eigen::LLT<typename Ty::MeasMat> llt;
  Eigen::LDLT<typename Ty::StateMat> ldlt;
  T nis = T(0);
};

/// P ← ½ (P + Pᵀ), in place.
template <class M>
void symmetrise(Eigen::MatrixBase<M>& P) {
  for (Eigen::Index i = 0; i < P.rows(); ++i)
    for (Eigen::Index j = 0; j < i; ++j) P(i, j) = P(j, i) = (P(i, j) + P(j, i)) / 2;
}

/// Prediction through one transition:  m⁻ = F m + B u + c,  P⁻ = F P Fᵀ + Q (symmetrised).
/// F, Q, B, u, c may be of another scalar type (the model's double); they are cast to T. B u is
/// skipped when B or u is empty, c when empty. m⁻ and P⁻ must not alias m and P.
template <class T, int MaxN, int MaxM, class F_, class Q_, class B_, class U_, class C_, class V, class M>
void predict(const Eigen::MatrixBase<F_>& F, const Eigen::MatrixBase<Q_>& Q, const Eigen::MatrixBase<B_>& B,
             const Eigen::MatrixBase<U_>& u, const Eigen::MatrixBase<C_>& c, const V& m, const M& P,
             typename Types<T, MaxN, MaxM>::StateVec& m_pred, typename Types<T, MaxN, MaxM>::StateMat& P_pred,
             Workspace<T, MaxN, MaxM>& ws) {
  const auto Ft = F.template cast<T>();
  m_pred.noalias() = Ft * m;
  if (B.size() && u.size()) m_pred.noalias() += (B * u).template cast<T>();
  if (c.size()) m_pred += c.template cast<T>();
  // P⁻ = (F P) Fᵀ + Q.
  ws.nn.noalias() = Ft * P;
  P_pred = Q.template cast<T>();
  P_pred.noalias() += ws.nn * Ft.transpose();
  symmetrise(P_pred);
}

enum class InnovationStatus { ok, not_positive_definite, not_finite };

/// The innovation of a predicted state against a stacked measurement (y, H, R of m ≥ 1 rows):
///   ν = y − H m⁻,  S = H P⁻ Hᵀ + R (symmetrised, factorised by LLT),  NIS = νᵀ S⁻¹ ν = |L⁻¹ ν|².
/// Results in ws (nu, S, llt, HP = H P⁻, nis). not_positive_definite when S is not (or is not
/// finite), not_finite when ν is not finite.
template <class T, int MaxN, int MaxM, class V, class M, class H_, class Y_, class R_>
InnovationStatus innovate(const V& m_pred, const M& P_pred, const H_& H, const Y_& y, const R_& R,
                          Workspace<T, MaxN, MaxM>& ws) {
  ws.nu = y;
  ws.nu.noalias() -= H * m_pred;
  ws.HP.noalias() = H * P_pred;
  ws.S = R;
  ws.S.noalias() += ws.HP * H.transpose();
  symmetrise(ws.S);
  ws.llt.compute(ws.S);
  if (ws.llt.info() != Eigen::Success || !ws.S.allFinite()) return InnovationStatus::not_positive_definite;
  if (!ws.nu.allFinite()) return InnovationStatus::not_finite;
  ws.w = ws.llt.matrixL().solve(ws.nu);
  ws.nis = ws.w.squaredNorm();
  return InnovationStatus::ok;
}

/// The measurement update in Joseph form (Bucy & Joseph 1968; Bar-Shalom et al. eq. 5.2.3-18),
/// after an innovate() that returned ok with the same arguments:
///   K = P⁻ Hᵀ S⁻¹ (Kᵀ = S⁻¹ H P⁻, solved with the LLT of S),   m = m⁻ + K ν,
///   P = (I − K H) P⁻ (I − K H)ᵀ + K R Kᵀ   (symmetrised; stays PSD under rounding).
/// m and P must not alias m⁻ and P⁻.
template <class T, int MaxN, int MaxM, class V, class M, class H_, class R_>
void joseph_update(const V& m_pred, const M& P_pred, const H_& H, const R_& R, Workspace<T, MaxN, MaxM>& ws,
                   typename Types<T, MaxN, MaxM>::StateVec& m, typename Types<T, MaxN, MaxM>::StateMat& P) {
  ws.K = ws.llt.solve(ws.HP).transpose();
  m = m_pred;
  m.noalias() += ws.K * ws.nu;
  ws.IKH.setIdentity(P_pred.rows(), P_pred.cols());
  ws.IKH.noalias() -= ws.K * H;
  ws.nn.noalias() = ws.IKH * P_pred;
  P.noalias() = ws.nn * ws.IKH.transpose();
  ws.KR.noalias() = ws.K * R;
  P.noalias() += ws.KR * ws.K.transpose();
  symmetrise(P);
}

/// One RTS backward step (Rauch, Tung & Striebel 1965; Särkkä 2023, Thm 12.2), from the filtered
/// state (m, P) at t, the transition F out of t, the prediction (m⁻₊, P⁻₊) of t+1 from (m, P),
/// and the smoothed state (mˢ₊, Pˢ₊) of t+1:
///   Gᵀ = (P⁻₊)⁺ F P (pivoted LDLᵀ solve: zero pivots give zero components, so a singular P⁻₊
///   acts as a pseudo-inverse on its range),   mˢ = m + G (mˢ₊ − m⁻₊),
///   Pˢ = P + G (Pˢ₊ − P⁻₊) Gᵀ (symmetrised). G stays in ws.G.
/// The outputs may be the very objects passed as mˢ₊ and Pˢ₊ (smoothing in place).
template <class T, int MaxN, int MaxM, class F_, class V, class M, class V2, class M2>
void rts_step(const Eigen::MatrixBase<F_>& F, const V& m, const M& P, const V2& m_pred_next, const M2& P_pred_next,
              const typename Types<T, MaxN, MaxM>::StateVec& ms_next,
              const typename Types<T, MaxN, MaxM>::StateMat& Ps_next, typename Types<T, MaxN, MaxM>::StateVec& ms,
              typename Types<T, MaxN, MaxM>::StateMat& Ps, Workspace<T, MaxN, MaxM>& ws) {
  ws.nn.noalias() = F.template cast<T>() * P;
  ws.ldlt.compute(P_pred_next);
  ws.G = ws.ldlt.solve(ws.nn).transpose();
  // The differences first, so that (ms, Ps) may be (ms_next, Ps_next).
  ws.dm = ms_next - m_pred_next;
  ws.dP = Ps_next - P_pred_next;
  ms = m;
  ms.noalias() += ws.G * ws.dm;
  ws.nn.noalias() = ws.G * ws.dP;
  Ps = P;
  Ps.noalias() += ws.nn * ws.G.transpose();
  symmetrise(Ps);
}

}  // namespace kalmanscan::filters::steps
